# The enrollment bridge end to end, OTPCE front (issue 12): owcp-bridge
# started from a configuration file exactly as its contract says, with a
# real dispatcher, a real user device (libowcp-client), a real FreeRADIUS
# and lying RADIUS servers on loopback, and its own database in the
# throwaway cluster of scripts/with-pg.sh.
add_library(owcp_bridge_itest STATIC ${CMAKE_CURRENT_SOURCE_DIR}/bridge_itest.c)
target_include_directories(owcp_bridge_itest PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(owcp_bridge_itest PUBLIC owcp_itest owcp_radius_itest
                      owcp_bridge_fixture owcp-client PkgConfig::LIBXML2
                      PkgConfig::OPENSSL)
target_compile_definitions(owcp_bridge_itest PRIVATE
  OWCP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
target_compile_definitions(owcp_bridge_itest PRIVATE
  OWCP_BRIDGE_BIN="$<TARGET_FILE:owcp-bridge>")
# The binary is run, not linked: build it before the tests.
add_dependencies(owcp_bridge_itest owcp-bridge)
foreach(name test_bridge_otpce test_bridge_otpce_refuse
             test_bridge_otpce_confirm)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
  target_link_libraries(${name} PRIVATE owcp_bridge_itest)
  add_test(NAME ${name}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/with-pg.sh
                   $<TARGET_FILE:${name}>)
  set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 300)
endforeach()
