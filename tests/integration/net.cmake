# Discovery (core-net/discovery*.c) and the protocol HTTP client
# (core-net/httpc.c) against real components: dnsmasq started by the test
# itself, real owcp-dispatcher processes (owcp_itest, hence
# scripts/with-pg.sh) and tiny libmicrohttpd servers inside the tests for
# hostile answers.
foreach(name test_discovery test_httpc)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
  target_link_libraries(${name} PRIVATE owcp_core_net owcp_itest
                        PkgConfig::MHD Threads::Threads)
  add_test(NAME ${name}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                   $<TARGET_FILE:${name}>)
  set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 300)
endforeach()
