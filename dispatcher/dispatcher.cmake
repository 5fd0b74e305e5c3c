# owcp-dispatcher: one file per operation handler (see routes.c), the
# libmicrohttpd glue, long-poll notification, background workers and keys.
add_executable(owcp-dispatcher
  main.c http.c routes.c notify.c log.c keys.c sweeper.c outbox.c
  rd_confirm.c rd_status.c rd_final.c rd_register.c
  cd_register.c cd_deregister.c cd_list.c cd_reply.c
  ca_get.c healthz.c)
target_link_libraries(owcp-dispatcher PRIVATE owcp_store owcp-core
  PkgConfig::MHD PkgConfig::CURL PkgConfig::LIBXML2 Threads::Threads)
