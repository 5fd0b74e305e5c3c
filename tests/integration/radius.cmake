# The enrollment bridge's RADIUS client (enrollment-bridge/radius.c) against
# a real FreeRADIUS started by the test on loopback, and against lying UDP
# servers inside the test program.
add_library(owcp_radius_itest STATIC ${CMAKE_CURRENT_SOURCE_DIR}/radius_itest.c)
target_link_libraries(owcp_radius_itest PUBLIC owcp_bridge_radius owcp_testutil
                      PkgConfig::CMOCKA)
foreach(name test_radius_freeradius test_radius_hostile)
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
  target_link_libraries(${name} PRIVATE owcp_radius_itest owcp_testutil
                        Threads::Threads)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()
