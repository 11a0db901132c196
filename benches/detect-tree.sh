#!/usr/bin/env bash
# Detection on a generated tree, side by side with `find TREE -type f | wc -l` (listing the
# files without reading any), benches/read_floor.c (the same listing plus one open, read and
# close of exactly the files detection reads: the floor of what detect does, as `find` reads
# no file contents) and, when installed, `rg --files TREE | wc -l` (listing with gitignore
# rules, in parallel). Warm cache: each command runs once before timing.
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
#        BASE=/path/to/canaryc benches/detect-tree.sh ...  (also time BASE, in the same rounds:
#                                                          before and after, paired)
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
floor="${TMPDIR:-/tmp}/canaryc-read-floor"
cc -O2 -o "$floor" benches/read_floor.c
names=("find -type f" "read floor")
cmds=("find $tree -type f | wc -l > /dev/null" "$floor $tree > /dev/null")
if command -v rg > /dev/null; then
  names+=("rg --files")
  cmds+=("rg --files $tree | wc -l > /dev/null")
fi
if [ -n "${BASE:-}" ]; then
  names+=("canaryc detect (BASE)")
  cmds+=("$BASE detect $tree --format json | wc -l > /dev/null")
fi
names+=("canaryc detect")
cmds+=("$BIN detect $tree --format json | wc -l > /dev/null")
echo "$tree: $(find "$tree" -type f | wc -l) files (find); read floor: $("$floor" "$tree" | awk '{print $1 " listed, " $2 " read, " $3 " bytes"}'); $(du -sh "$tree" | cut -f1)"
"$BIN" detect "$tree" --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("detect:", d["stats"], len(d["workloads"]), "workloads")'
for c in "${cmds[@]}"; do bash -c "$c"; done

# Rounds of every command in turn, each a whole `bash -c` process: wall from perf_counter, CPU
# (user + system, microsecond resolution) from the children's rusage.
python3 - "$rounds" "${#names[@]}" "${names[@]}" "${cmds[@]}" <<'PY'
import resource, statistics, subprocess, sys, time
rounds, n = int(sys.argv[1]), int(sys.argv[2])
names, cmds = sys.argv[3:3 + n], sys.argv[3 + n:]
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
ratio = lambda i, j, k: statistics.median(r[i][k] / r[j][k] for r in rows)
print(f"{rounds} interleaved rounds, medians (ratios: median of the per-round ratios)")
print("| command | wall ms | cpu ms | wall / find | cpu / find | cpu / read floor |")
print("|---|---|---|---|---|---|")
for i, name in enumerate(names):
    print(f"| {name} | {med(i, 0) * 1e3:.0f} | {med(i, 1) * 1e3:.0f} | {ratio(i, 0, 0):.2f}x | {ratio(i, 0, 1):.2f}x | {ratio(i, 1, 1):.2f}x |")
PY
