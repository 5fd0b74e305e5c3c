# What `cmake --install` puts in place to run owcp as a service, besides
# the libraries, headers, pkg-config files and the owcp-request and
# owcp-client commands (installed with their targets): the dispatcher and
# its administration command, the systemd unit and system user, the
# example configuration and the man pages.
#
# owcp-dispatcher and owcp-admin go to sbin: a daemon and an administrator's
# command (section 8), neither of use to an ordinary user. The unit and the
# sysusers.d file go under the prefix (lib/systemd/system, lib/sysusers.d),
# which systemd searches for both /usr and /usr/local, so an install into a
# scratch prefix never writes outside it. The example configuration is
# documentation (share/doc/owcp): the administrator copies it to
# /etc/owcp/dispatcher.conf, so an upgrade never overwrites a live file.

foreach(prog owcp-dispatcher owcp-admin owcp-bridge)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
  endif()
endforeach()

set(OWCP_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit is installed (relative: under the prefix)")
set(OWCP_SYSUSERSDIR "lib/sysusers.d" CACHE STRING
    "Where the sysusers.d file creating the owcp user is installed")

# The unit names the installed binary, so it is configured with the paths.
configure_file(${CMAKE_CURRENT_LIST_DIR}/systemd/owcp-dispatcher.service.in
               ${PROJECT_BINARY_DIR}/contrib/owcp-dispatcher.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/contrib/owcp-dispatcher.service
        DESTINATION ${OWCP_SYSTEMD_UNITDIR})
install(FILES ${CMAKE_CURRENT_LIST_DIR}/systemd/owcp.sysusers
        DESTINATION ${OWCP_SYSUSERSDIR} RENAME owcp.conf)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/dispatcher.conf.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# ---- owcp-bridge: its unit (same hardening) and example configuration ----
configure_file(${CMAKE_CURRENT_LIST_DIR}/systemd/owcp-bridge.service.in
               ${PROJECT_BINARY_DIR}/contrib/owcp-bridge.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/contrib/owcp-bridge.service
        DESTINATION ${OWCP_SYSTEMD_UNITDIR})
install(FILES ${CMAKE_CURRENT_LIST_DIR}/bridge.conf.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Man pages: one scdoc source each (docs/man/NAME.SECTION.scd), built as
# part of `all`.
option(OWCP_MAN "Build and install the man pages (needs scdoc)" ON)
if(OWCP_MAN)
  find_program(SCDOC scdoc REQUIRED)
  set(OWCP_MAN_PAGES owcp-dispatcher.8 owcp-admin.8 owcp-request.1
                     owcp-client.1 owcp-bridge.8)
  set(OWCP_MAN_OUT "")
  foreach(page ${OWCP_MAN_PAGES})
    set(src ${PROJECT_SOURCE_DIR}/docs/man/${page}.scd)
    set(out ${PROJECT_BINARY_DIR}/man/${page})
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND sh -c "\"$0\" <\"$1\" >\"$2.tmp\" && mv \"$2.tmp\" \"$2\""
              ${SCDOC} ${src} ${out}
      DEPENDS ${src}
      COMMENT "Man page ${page}"
      VERBATIM)
    list(APPEND OWCP_MAN_OUT ${out})
    string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" section ${page})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(owcp-man ALL DEPENDS ${OWCP_MAN_OUT})
endif()
