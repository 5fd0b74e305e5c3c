# pam_owcp.so (pam/) through libpam and pamtester against a real
# dispatcher and a real device (test_pam.c); must run as root.
add_executable(test_pam ${CMAKE_CURRENT_SOURCE_DIR}/test_pam.c)
target_link_libraries(test_pam PRIVATE owcp_itest owcp-client PkgConfig::PAM
                      PkgConfig::MHD PkgConfig::JANSSON)
# pamtester is not built with the sanitizers: in the sanitizer build it is
# run with their runtimes preloaded so that it can load the instrumented
# module (the test program itself is an instrumented host).
set(OWCP_PAM_HOST_PRELOAD "")
if(OWCP_SANITIZE)
  foreach(rt libasan.so libubsan.so)
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${rt}
                    OUTPUT_VARIABLE rt_path OUTPUT_STRIP_TRAILING_WHITESPACE)
    list(APPEND OWCP_PAM_HOST_PRELOAD ${rt_path})
  endforeach()
  string(REPLACE ";" ":" OWCP_PAM_HOST_PRELOAD "${OWCP_PAM_HOST_PRELOAD}")
endif()
target_compile_definitions(test_pam PRIVATE
  PAM_OWCP_MODULE="$<TARGET_FILE:pam_owcp>"
  PAM_HOST_PRELOAD="${OWCP_PAM_HOST_PRELOAD}")
add_dependencies(test_pam pam_owcp)
add_test(NAME test_pam
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh $<TARGET_FILE:test_pam>)
set_tests_properties(test_pam PROPERTIES LABELS integration TIMEOUT 300)
