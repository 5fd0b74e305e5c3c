# Turns file IN into a C source OUT defining NAME[] (default owcp_schema_xsd)
# and NAME_len, its length without the NUL that follows it.
if(NOT DEFINED NAME)
  set(NAME owcp_schema_xsd)
endif()
get_filename_component(base ${IN} NAME)
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT}
  "/* Generated from schema/${base} by cmake/embed.cmake; do not edit. */\n"
  "#include <stddef.h>\n"
  "extern const unsigned char ${NAME}[];\n"
  "extern const size_t ${NAME}_len;\n"
  "const unsigned char ${NAME}[] = {${body}0x00};\n"
  "const size_t ${NAME}_len = ${len};\n")
