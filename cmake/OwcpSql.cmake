# owcp_sql_tree(DAEMON): installs sql/DAEMON/ (numbered migrations and
# procedures/) to ${CMAKE_INSTALL_DATADIR}/owcp/sql/DAEMON and mirrors that
# layout in the build tree (a symbolic link ${CMAKE_BINARY_DIR}/share/owcp/
# sql/DAEMON -> the source directory), so that a program in build/<folder>/
# finds its migrations at <exe>/../share/owcp/sql/DAEMON exactly as an
# installed one does, and edits to sql/ take effect without a rebuild.
function(owcp_sql_tree daemon)
  set(src ${PROJECT_SOURCE_DIR}/sql/${daemon})
  set(dst ${CMAKE_BINARY_DIR}/share/owcp/sql/${daemon})
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/share/owcp/sql)
  if(IS_SYMLINK ${dst} OR NOT EXISTS ${dst})
    file(CREATE_LINK ${src} ${dst} SYMBOLIC COPY_ON_ERROR)
  endif()
  install(DIRECTORY ${src}/ DESTINATION ${CMAKE_INSTALL_DATADIR}/owcp/sql/${daemon}
          FILES_MATCHING PATTERN "*.sql")
endfunction()
