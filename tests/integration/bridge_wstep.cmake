# The enrollment bridge end to end, WSTEP front (issue 13): owcp-bridge with
# a [wstep] section, a real dispatcher, device and FreeRADIUS, requests
# shaped like each client family (wstep_itest.h).
add_library(owcp_wstep_itest STATIC ${CMAKE_CURRENT_SOURCE_DIR}/wstep_itest.c)
target_link_libraries(owcp_wstep_itest PUBLIC owcp_bridge_itest)
target_compile_definitions(owcp_wstep_itest PRIVATE
  OWCP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  OWCP_BRIDGE_BIN="$<TARGET_FILE:owcp-bridge>")
add_executable(test_bridge_wstep
               ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_wstep.c)
target_link_libraries(test_bridge_wstep PRIVATE owcp_wstep_itest)
add_test(NAME test_bridge_wstep
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 $<TARGET_FILE:test_bridge_wstep>)
set_tests_properties(test_bridge_wstep PROPERTIES LABELS integration
                     TIMEOUT 400)

# [wstep] auth = certificate: the bridge on HTTPS, TLS client certificates.
add_executable(test_bridge_wstep_cert
               ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_wstep_cert.c)
target_link_libraries(test_bridge_wstep_cert PRIVATE owcp_wstep_itest)
add_test(NAME test_bridge_wstep_cert
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                 $<TARGET_FILE:test_bridge_wstep_cert>)
set_tests_properties(test_bridge_wstep_cert PROPERTIES LABELS integration
                     TIMEOUT 300)
