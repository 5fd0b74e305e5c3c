# conf_edit.sh — sourced by the packaging tests that make a working
# configuration out of the shipped example (contrib/dispatcher.conf.example).

# conf_set FILE KEY VALUE: the first line "KEY = ..." of FILE, commented
# out or not, becomes "KEY = VALUE". Fails (status 1) when FILE has none.
conf_set() {
  awk -v k="$2" -v v="$3" '
    !done && $0 ~ "^#?" k " =" { print k " = " v; done = 1; next }
    { print }
    END { exit !done }' "$1" >"$1.new" && mv "$1.new" "$1"
}

# conf_del FILE KEY: removes the uncommented lines "KEY = ...".
conf_del() {
  grep -Ev "^$2 =" "$1" >"$1.new"
  mv "$1.new" "$1"
}

# dispatcher_keys SOURCE_DIR: the keys of dispatcher/config.c's table, one
# per line, in table order (SVC_CFG_*(C, member, "name", ...)).
dispatcher_keys() {
  tr '\n' ' ' <"$1/dispatcher/config.c" |
    grep -oE 'SVC_CFG_[A-Z_]+\(C, *[a-z_]+, *"[a-z_]+"' |
    sed -E 's/.*"([a-z_]+)"$/\1/'
}
