# libowcp-client and owcp-client: unit tests of the key store and state
# directory, end-to-end tests against real dispatcher processes, and the
# interactive `watch` driven through tmux.
add_executable(test_keystore ${PROJECT_SOURCE_DIR}/tests/unit/test_keystore.c)
target_link_libraries(test_keystore PRIVATE owcp_client_state owcp_testutil
                      PkgConfig::CMOCKA)
add_test(NAME test_keystore COMMAND test_keystore)
set_tests_properties(test_keystore PROPERTIES LABELS unit TIMEOUT 300)

add_executable(test_client_e2e ${CMAKE_CURRENT_SOURCE_DIR}/test_client_e2e.c)
target_link_libraries(test_client_e2e PRIVATE owcp-client owcp_itest)
add_test(NAME test_client_e2e
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 $<TARGET_FILE:test_client_e2e>)
set_tests_properties(test_client_e2e PROPERTIES LABELS integration
                     TIMEOUT 300)

add_test(NAME test_client_watch
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_client_watch.sh
                 $<TARGET_FILE:owcp-client-cli>
                 $<TARGET_FILE:owcp-dispatcher> $<TARGET_FILE:owcp-admin>)
set_tests_properties(test_client_watch PROPERTIES LABELS integration
                     TIMEOUT 300)

# A scripted, lying dispatcher on loopback (no database needed).
add_executable(test_client_hostile
               ${CMAKE_CURRENT_SOURCE_DIR}/test_client_hostile.c)
target_link_libraries(test_client_hostile PRIVATE owcp-client owcp_core_crypto
                      owcp_core_util PkgConfig::CMOCKA PkgConfig::JANSSON
                      PkgConfig::OPENSSL Threads::Threads)
add_test(NAME test_client_hostile COMMAND test_client_hostile)
set_tests_properties(test_client_hostile PROPERTIES LABELS integration
                     TIMEOUT 120)

# register's enrollment code from a file or standard input (never argv).
add_test(NAME test_client_code
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_client_code.sh
                 $<TARGET_FILE:owcp-client-cli>
                 $<TARGET_FILE:owcp-dispatcher> $<TARGET_FILE:owcp-admin>)
set_tests_properties(test_client_code PROPERTIES LABELS integration
                     TIMEOUT 300)
