# libowcp-requestor and owcp-request: end-to-end tests against real
# dispatcher processes (tests/integration/itest.h) and the CLI's exit
# statuses and --json output (test_requestor_cli.c). The Request writer and
# the library's builders on it are unit-tested in test_request_write.

# ops: the library's RD operations; receiver: DR-Complete into the
# embedded receiver; cli: owcp-request's exit statuses and --json (driven
# from C because answering a request needs the harness's signing client);
# hostile: a scripted lying dispatcher (libmicrohttpd) serving genuine
# receipts around false answers.
foreach(theme ops receiver cli hostile)
  set(name test_requestor_${theme})
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
  target_link_libraries(${name} PRIVATE owcp-requestor owcp_itest
                        PkgConfig::CURL PkgConfig::MHD)
  target_compile_definitions(${name} PRIVATE
    OWCP_REQUEST_BIN="$<TARGET_FILE:owcp-request>"
    OWCP_VPN_GATE_BIN="$<TARGET_FILE:vpn_gate>")
  add_dependencies(${name} owcp-request vpn_gate)
  add_test(NAME ${name}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                   $<TARGET_FILE:${name}>)
  set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 300)
endforeach()
