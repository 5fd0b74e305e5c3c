# The enrollment bridge's own database (enrollment-bridge/store.h,
# sql/bridge/) against a real, throwaway PostgreSQL.
add_executable(test_bridge_store
               ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_store.c)
target_link_libraries(test_bridge_store PRIVATE owcp_bridge_store
                      PkgConfig::CMOCKA PkgConfig::LIBPQ Threads::Threads)
target_compile_definitions(test_bridge_store PRIVATE
  OWCP_SQL_DIR="${PROJECT_SOURCE_DIR}/sql/bridge")
add_test(NAME test_bridge_store
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 $<TARGET_FILE:test_bridge_store>)
set_tests_properties(test_bridge_store PROPERTIES LABELS integration
                     TIMEOUT 300)
