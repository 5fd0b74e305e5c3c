# End-to-end tests: real PostgreSQL (scripts/with-pg.sh), real
# owcp-admin and owcp-dispatcher processes, real HTTP (libcurl). One
# program per theme; each creates its own database, so they are
# independent of one another and of the order ctest runs them in.
add_library(owcp_itest STATIC ${CMAKE_CURRENT_SOURCE_DIR}/itest.c)
target_include_directories(owcp_itest PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(owcp_itest PUBLIC owcp-core owcp_testutil PkgConfig::CMOCKA
                      PkgConfig::CURL PkgConfig::LIBPQ PkgConfig::JANSSON
                      Threads::Threads)
target_compile_definitions(owcp_itest PUBLIC
  OWCP_ADMIN_BIN="$<TARGET_FILE:owcp-admin>"
  OWCP_DISPATCHER_BIN="$<TARGET_FILE:owcp-dispatcher>"
  OWCP_TEST_DATA="${PROJECT_SOURCE_DIR}/tests/data")
# The binaries are run, not linked: build them before the tests.
add_dependencies(owcp_itest owcp-admin owcp-dispatcher)

foreach(theme rd cd auth xml longpoll receipt multi outage approval consent notify
              authcache listed ratelease txcache)
  set(name test_e2e_${theme})
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
  target_link_libraries(${name} PRIVATE owcp_itest)
  add_test(NAME ${name}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                   $<TARGET_FILE:${name}>)
  set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 300)
endforeach()
