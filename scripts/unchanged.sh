# Sourced by connector build scripts whose toolchains are slow and not byte-reproducible (componentize-js,
# componentize-py): a rebuild from unchanged inputs would produce a new file, which Qiao must compile again.
#   unchanged OUT_FILE INPUT...   true if OUT_FILE exists and was built from exactly these inputs
#   record    OUT_FILE INPUT...   remember the inputs OUT_FILE was built from
_inputs_hash() {
  local out=$1; shift
  { find "$@" -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1
}
unchanged() {
  local out=$1
  [ -f "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$(_inputs_hash "$@")" ]
}
record() {
  _inputs_hash "$@" > "$1.inputs"
}
