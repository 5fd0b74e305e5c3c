# libowcp-requestor and owcp-request: the XML builder's unit test, end-to-end
# tests against real dispatcher processes (tests/integration/itest.h) and the
# CLI's exit statuses and --json output (test_requestor_cli.c).

# The builder needs no network code, so its unit test builds even while
# owcp_core_net does not exist yet.
add_executable(test_request_build
  ${PROJECT_SOURCE_DIR}/tests/unit/test_request_build.c
  ${PROJECT_SOURCE_DIR}/requestor-lib/request_build.c)
target_include_directories(test_request_build PRIVATE
  ${PROJECT_SOURCE_DIR}/requestor-lib/include)
target_link_libraries(test_request_build PRIVATE owcp_core_xml owcp_core_json
                      PkgConfig::CMOCKA)
add_test(NAME test_request_build COMMAND test_request_build)
set_tests_properties(test_request_build PROPERTIES LABELS unit)

if(TARGET owcp-requestor AND TARGET owcp_itest)
  # ops: the library's RD operations; receiver: DR-Complete into the
  # embedded receiver; cli: owcp-request's exit statuses and --json (driven
  # from C because answering a request needs the harness's signing client);
  # hostile: a scripted lying dispatcher (libmicrohttpd) serving genuine
  # receipts around false answers.
  foreach(theme ops receiver cli hostile)
    set(name test_requestor_${theme})
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
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
    endif()
  endforeach()
endif()
