# The audit console (owcp-admin serve, issue 16): a real dispatcher with
# traffic, owcp-admin serve, HTTP checks and headless Chromium
# (console_check.py). Screenshots and DOM dumps stay in
# ${CMAKE_BINARY_DIR}/console-artefacts.
add_executable(test_console ${CMAKE_CURRENT_SOURCE_DIR}/test_console.c)
target_link_libraries(test_console PRIVATE owcp_itest)
add_test(NAME test_console
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 $<TARGET_FILE:test_console>
                 ${CMAKE_CURRENT_SOURCE_DIR}/console_check.py
                 ${CMAKE_BINARY_DIR}/console-artefacts)
set_tests_properties(test_console PROPERTIES LABELS integration TIMEOUT 300)
