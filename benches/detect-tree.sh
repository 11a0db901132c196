#!/usr/bin/env bash
# Detection on a generated tree, side by side with `find TREE -type f | wc -l` (the floor:
# listing the files without reading any) and `rg --files TREE | wc -l` (listing them with
# gitignore rules, in parallel). Warm cache: each command runs once before timing.
# Targets (issues 10 and 15): detect within 1.5x find on the 100,000-file tree, 3x on the
# Python tree.
#
# The machine is shared, so the commands run in rounds, interleaved (find, rg, detect, find,
# rg, detect ...), and the figure quoted is the median of the per-round ratios, next to each
# side's median wall and CPU (user + system) time. Every command's output goes through `wc -l`
# or to /dev/null the same way.
#
# Usage: benches/detect-tree.sh [FILES=100000] [ROUNDS=9]
#        benches/detect-tree.sh python [MODULES=2000] [ROUNDS=9]
#        BIN=/path/to/canaryc benches/detect-tree.sh ...   (another build, e.g. the one before)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = python ]; then
  modules="${2:-2000}"
  rounds="${3:-9}"
  tree="${TMPDIR:-/tmp}/canaryc-python-tree-$modules"
  [ -d "$tree" ] || python3 benches/make_python_tree.py "$tree" "$modules"
else
  files="${1:-100000}"
  rounds="${2:-9}"
  tree="${TMPDIR:-/tmp}/canaryc-detect-tree-$files"
  [ -d "$tree" ] || python3 benches/make_tree.py "$tree" "$files"
fi
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/canaryc
fi
find_cmd="find $tree -type f | wc -l > /dev/null"
rg_cmd="rg --files $tree | wc -l > /dev/null"
detect_cmd="$BIN detect $tree --format json | wc -l > /dev/null"
echo "$tree: $(find "$tree" -type f | wc -l) files (find), $(rg --files "$tree" | wc -l) (rg --files), $(du -sh "$tree" | cut -f1)"
"$BIN" detect "$tree" --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("detect:", d["stats"], len(d["workloads"]), "workloads")'
bash -c "$find_cmd"; bash -c "$rg_cmd"; bash -c "$detect_cmd"

# One timed run: "wall cpu" in seconds.
timed() {
  local out
  out=$( { /usr/bin/time -f "%e %U %S" bash -c "$1" ; } 2>&1 >/dev/null | tail -1)
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$out"
}
results=$(mktemp)
for _ in $(seq "$rounds"); do
  read -r fw fc < <(timed "$find_cmd")
  read -r rw rc < <(timed "$rg_cmd")
  read -r dw dc < <(timed "$detect_cmd")
  echo "$fw $fc $rw $rc $dw $dc" >> "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = lambda i: statistics.median(r[i] for r in rows)
ratio = lambda a, b: statistics.median(r[a] / r[b] for r in rows if r[b] > 0)
print(f"{len(rows)} interleaved rounds, medians")
print(f"| command | wall s | cpu s | wall / find | cpu / find |")
print(f"|---|---|---|---|---|")
print(f"| find -type f | {med(0):.3f} | {med(1):.3f} | 1 | 1 |")
print(f"| rg --files | {med(2):.3f} | {med(3):.3f} | {ratio(2, 0):.2f}x | {ratio(3, 1):.2f}x |")
print(f"| canaryc detect | {med(4):.3f} | {med(5):.3f} | {ratio(4, 0):.2f}x | {ratio(5, 1):.2f}x |")
PY
rm -f "$results"
