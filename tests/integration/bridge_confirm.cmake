# The enrollment bridge's confirmation module (enrollment-bridge/confirm.h):
# its pure parts (policy, cache window, summaries, text checks) and its use
# of a real dispatcher, answered by a real libowcp-client device.
add_executable(test_bridge_confirm_policy
               ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_confirm_policy.c)
target_link_libraries(test_bridge_confirm_policy PRIVATE owcp_bridge_confirm
                      PkgConfig::CMOCKA)
add_test(NAME test_bridge_confirm_policy
         COMMAND test_bridge_confirm_policy)
set_tests_properties(test_bridge_confirm_policy PROPERTIES LABELS unit
                     TIMEOUT 60)
add_executable(test_bridge_confirm
               ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_confirm.c)
target_link_libraries(test_bridge_confirm PRIVATE owcp_bridge_confirm
                      owcp-client owcp_itest PkgConfig::MHD)
add_test(NAME test_bridge_confirm
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 $<TARGET_FILE:test_bridge_confirm>)
set_tests_properties(test_bridge_confirm PROPERTIES LABELS integration
                     TIMEOUT 300)
