#!/usr/bin/env bash
# Detection on a generated 100,000-file tree, side by side with `find TREE -type f | wc -l`
# (the floor: listing the files without reading any). Warm cache: each command runs once
# before timing. Target: detection within 2x of find.
#
# The machine is shared, so the two run in pairs, interleaved (find, detect, find, detect ...),
# and the figure quoted is the median of the per-pair ratios, next to each side's median wall
# and CPU (user + system) time. hyperfine, when installed, runs too.
#
# Usage: benches/detect-tree.sh [FILES=100000] [PAIRS=9]
set -euo pipefail
cd "$(dirname "$0")/.."
files="${1:-100000}"
pairs="${2:-9}"
tree="${TMPDIR:-/tmp}/canaryc-detect-tree-$files"
[ -d "$tree" ] || python3 benches/make_tree.py "$tree" "$files"
cargo build --release --quiet
bin=target/release/canaryc
find_cmd="find $tree -type f | wc -l > /dev/null"
detect_cmd="$bin detect $tree --format json > /dev/null"
find "$tree" -type f | wc -l
"$bin" detect "$tree" --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["stats"], len(d["workloads"]), "workloads")'
bash -c "$find_cmd"

# One timed run: "wall cpu" in seconds.
timed() {
  local out
  out=$( { /usr/bin/time -f "%e %U %S" bash -c "$1" ; } 2>&1 >/dev/null | tail -1)
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$out"
}
results=$(mktemp)
for _ in $(seq "$pairs"); do
  read -r fw fc < <(timed "$find_cmd")
  read -r dw dc < <(timed "$detect_cmd")
  echo "$fw $fc $dw $dc" >> "$results"
done
python3 - "$results" <<'EOF'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = lambda i: statistics.median(r[i] for r in rows)
ratio = statistics.median(r[2] / r[0] for r in rows if r[0] > 0)
cpu_ratio = statistics.median(r[3] / r[1] for r in rows if r[1] > 0)
print(f"{len(rows)} interleaved pairs")
print(f"find   (floor): wall {med(0):.3f} s, cpu {med(1):.3f} s (median)")
print(f"canaryc detect: wall {med(2):.3f} s, cpu {med(3):.3f} s (median)")
print(f"paired ratio detect/find: wall {ratio:.2f}x, cpu {cpu_ratio:.2f}x (target: wall within 2x)")
EOF
rm -f "$results"
if command -v hyperfine > /dev/null; then
  hyperfine --warmup 2 --runs 10 "$find_cmd" "$detect_cmd"
fi
