#!/usr/bin/env bash
# Whether two canaryc binaries detect the same thing, byte for byte: `canaryc detect` (human and
# --format json) on every codebase given, by the binary before a change and the one after.
# Exit 0 when every output is identical; the differing ones are listed (and diffed) otherwise.
#
# Usage: benches/detect-identical.sh BEFORE_BIN AFTER_BIN DIR...
#   e.g. benches/detect-identical.sh /tmp/canaryc-base target/release/canaryc /work/real/src/*
set -uo pipefail
before="$1"
after="$2"
shift 2
out="$(mktemp -d)"
same=0
differ=0
for dir in "$@"; do
  name="$(basename "$dir")"
  for format in human json; do
    "$before" detect "$dir" --format "$format" > "$out/$name.$format.before" 2>&1
    echo "exit $?" >> "$out/$name.$format.before"
    "$after" detect "$dir" --format "$format" > "$out/$name.$format.after" 2>&1
    echo "exit $?" >> "$out/$name.$format.after"
    if cmp -s "$out/$name.$format.before" "$out/$name.$format.after"; then
      same=$((same + 1))
    else
      differ=$((differ + 1))
      echo "DIFFERENT: $dir ($format)"
      diff "$out/$name.$format.before" "$out/$name.$format.after" | head -20
    fi
  done
  printf '%-28s %s bytes (json)\n' "$name" "$(wc -c < "$out/$name.json.after")"
done
echo "$same identical, $differ different"
rm -rf "$out"
[ "$differ" -eq 0 ]
