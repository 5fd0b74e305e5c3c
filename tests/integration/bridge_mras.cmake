# The enrollment bridge's MRAS front end to end (issue 14): SIPp, sipsak,
# coturn and turnutils_uclient as real peers on loopback, a real
# dispatcher and device for the confirmation (test_bridge_mras.c).
add_executable(test_bridge_mras ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_mras.c)
target_link_libraries(test_bridge_mras PRIVATE owcp_bridge_itest
                      PkgConfig::CURL)
target_compile_definitions(test_bridge_mras PRIVATE
  OWCP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_test(NAME test_bridge_mras
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 $<TARGET_FILE:test_bridge_mras>)
set_tests_properties(test_bridge_mras PROPERTIES LABELS integration
                     TIMEOUT 600)
