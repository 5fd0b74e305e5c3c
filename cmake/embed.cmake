# Turns file IN into a C source OUT defining owcp_schema_xsd[] and its length.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT}
  "/* Generated from schema/owcp.xsd by cmake/embed.cmake; do not edit. */\n"
  "#include <stddef.h>\n"
  "extern const unsigned char owcp_schema_xsd[];\n"
  "extern const size_t owcp_schema_xsd_len;\n"
  "const unsigned char owcp_schema_xsd[] = {${body}0x00};\n"
  "const size_t owcp_schema_xsd_len = ${len};\n")
