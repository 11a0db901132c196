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

# Rounds of (find, rg, detect), each a whole `bash -c` process: wall from perf_counter, CPU
# (user + system, microsecond resolution) from the children's rusage.
python3 - "$rounds" "$find_cmd" "$rg_cmd" "$detect_cmd" <<'PY'
import resource, statistics, subprocess, sys, time
rounds, cmds = int(sys.argv[1]), sys.argv[2:]
names = ["find -type f", "rg --files", "canaryc detect"]
def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["bash", "-c", cmd], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu
rows = [[timed(c) for c in cmds] for _ in range(rounds)]
med = lambda i, k: statistics.median(r[i][k] for r in rows)
ratio = lambda i, k: statistics.median(r[i][k] / r[0][k] for r in rows)
print(f"{rounds} interleaved rounds, medians")
print("| command | wall ms | cpu ms | wall / find | cpu / find |")
print("|---|---|---|---|---|")
for i, name in enumerate(names):
    print(f"| {name} | {med(i, 0) * 1e3:.0f} | {med(i, 1) * 1e3:.0f} | {ratio(i, 0):.2f}x | {ratio(i, 1):.2f}x |")
PY
