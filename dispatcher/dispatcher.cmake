# owcp-dispatcher: one file per operation handler (see routes.c), the
# libmicrohttpd glue, long-poll notification, background workers and keys.
set(OWCP_DISPATCHER_SOURCES
  main.c http.c routes.c notify.c keys.c certcache.c sweeper.c outbox.c
  store_metrics.c
  rd_confirm.c rd_status.c rd_final.c rd_register.c
  cd_register.c cd_deregister.c cd_list.c cd_reply.c
  ca_get.c healthz.c)
set(missing "")
foreach(src ${OWCP_DISPATCHER_SOURCES})
  if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${src})
    list(APPEND missing ${src})
  endif()
endforeach()
if(missing)
  message(WARNING "owcp-dispatcher not built yet: missing ${missing}")
else()
  add_executable(owcp-dispatcher ${OWCP_DISPATCHER_SOURCES})
  target_link_libraries(owcp-dispatcher PRIVATE owcp_service owcp_store owcp-core owcp_core_net
    PkgConfig::MHD PkgConfig::CURL PkgConfig::LIBXML2 Threads::Threads)
endif()
