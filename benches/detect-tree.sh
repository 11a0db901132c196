#!/usr/bin/env bash
# Detection on a generated 100,000-file tree, side by side with `find TREE -type f | wc -l`
# (the floor: listing the files without reading any). Warm cache: each command runs once
# before timing. Target: detection within 2x of find.
#
# Usage: benches/detect-tree.sh [FILES=100000]
set -euo pipefail
cd "$(dirname "$0")/.."
files="${1:-100000}"
tree="${TMPDIR:-/tmp}/canaryc-detect-tree-$files"
[ -d "$tree" ] || python3 benches/make_tree.py "$tree" "$files"
cargo build --release --quiet
bin=target/release/canaryc
find "$tree" -type f | wc -l
"$bin" detect "$tree" --format json > /dev/null
if command -v hyperfine > /dev/null; then
  hyperfine --warmup 2 --runs 10 \
    "find $tree -type f | wc -l" \
    "$bin detect $tree --format json > /dev/null"
else
  for cmd in "find $tree -type f | wc -l" "$bin detect $tree --format json > /dev/null"; do
    start=$(date +%s.%N)
    for _ in 1 2 3 4 5; do bash -c "$cmd" > /dev/null; done
    end=$(date +%s.%N)
    echo "$cmd: $(echo "($end - $start) / 5" | bc -l | cut -c1-6) s per run"
  done
fi
