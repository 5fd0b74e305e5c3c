# The requestor and client libraries against each other through a real
# dispatcher (test_interop.c).
add_executable(test_interop ${CMAKE_CURRENT_SOURCE_DIR}/test_interop.c)
target_link_libraries(test_interop PRIVATE owcp-requestor owcp-client
                      owcp_itest)
add_test(NAME test_interop
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 $<TARGET_FILE:test_interop>)
set_tests_properties(test_interop PROPERTIES LABELS integration TIMEOUT 300)
