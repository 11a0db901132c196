#!/usr/bin/env bash
# canaryc building every output for an N-service plan, side by side with the floor and a peer,
# every one writing into a FRESH directory each run (the previous one renamed aside before the
# run, outside the timing), so none of them pays for, or saves on, what the previous run left
# (issue 15: the old script let jrsonnet overwrite its previous 4,000 files, an I/O wait per
# file).
#
#   canaryc build     the whole process: parse, check, lower, emit, write through the crash-safe
#                     output transaction (files unsynced, one syncfs, directory fsyncs, swap)
#   floor             benches/write_floor.rs: the same bytes, the same files, already in memory,
#                     one open/write/close each (no fsync)
#   floor --syncfs    the same, then one syncfs(2) and an fsync of the directory and of its
#                     parent: the durability canaryc's transaction gives now, so its fair floor
#   floor --sync      the same with an fsync per file and of the directory (canaryc before the
#                     syncfs, and still on kernels before 5.8)
#   cp -r             copying canaryc's output directory
#   jrsonnet          shared/bench/jsonnet/fleet.jsonnet, 4 files per service (fewer files and
#                     bytes than canaryc writes; shown with its own counts)
#
# The commands run in rounds, interleaved, and the ratios quoted are medians of per-round
# ratios to canaryc (the machine is shared and noisy). Peak RSS is measured once per command
# with /usr/bin/time. Targets (issue 15): canaryc <= 5x the floor, >= 4x faster than jrsonnet;
# 10,000 services linear in time and peak memory <= 2x the bytes written.
#
# Usage: benches/fleet.sh [SERVICES=1000] [ROUNDS=7]
#        BIN=/path/to/canaryc benches/fleet.sh ...      (another build, e.g. the one before)
#        BASE=/path/to/canaryc benches/fleet.sh ...     (also time that build, interleaved in the
#                                                       same rounds: before and after in one run)
#        (jrsonnet: cargo install jrsonnet --version 0.5.0-pre98 --locked; skipped if absent)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
rounds="${2:-7}"
work="${TMPDIR:-/tmp}/canaryc-fleet-$n"
peer="$(cd ../shared/bench/jsonnet 2>/dev/null && pwd || echo /work/shared/bench/jsonnet)"
mkdir -p "$work" target/release
python3 benches/make_fleet_plan.py "$n" > "$work/fleet.plan"
if [ -z "${BIN:-}" ]; then
  CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build --release --quiet --bin canaryc
  BIN=target/release/canaryc
fi
bin="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
floor=target/release/write_floor
[ "$floor" -nt benches/write_floor.rs ] || rustc -O --edition 2021 benches/write_floor.rs -o "$floor"
rm -rf "$work/ref"
"$bin" build "$work/fleet.plan" --output "$work/ref" > /dev/null
bytes="$(du -sb "$work/ref" | cut -f1)"
echo "canaryc: $(find "$work/ref" -type f | wc -l) files, $bytes bytes"

names=("canaryc build" "floor" "floor --syncfs" "floor --sync" "cp -r")
# Before each run its previous output is renamed aside, not deleted: on ext4 (this machine's has
# no journal) creating files right after deleting many is slow for everyone (the allocator
# skips recently deleted inodes, `recently_deleted` in perf), which would inflate every side.
# Everything set aside is deleted once, after the timing.
aside="$work/aside"
rm -rf "$aside" && mkdir -p "$aside"
fresh() { echo "[ ! -e $work/$1 ] || mv $work/$1 \$(mktemp -u -p $aside)"; }
prepares=("$(fresh o1)" "$(fresh o2)" "$(fresh o7)" "$(fresh o3)" "$(fresh o4)")
cmds=("$bin build $work/fleet.plan --output $work/o1 > /dev/null"
      "$floor $work/ref $work/o2 2> /dev/null"
      "$floor $work/ref $work/o7 --syncfs 2> /dev/null"
      "$floor $work/ref $work/o3 --sync 2> /dev/null"
      "cp -r $work/ref $work/o4")
if [ -n "${BASE:-}" ]; then
  base="$(cd "$(dirname "$BASE")" && pwd)/$(basename "$BASE")"
  names+=("canaryc BASE")
  prepares+=("$(fresh o6)")
  cmds+=("$base build $work/fleet.plan --output $work/o6 > /dev/null")
  rm -rf "$work/o6"
  "$base" build "$work/fleet.plan" --output "$work/o6" > /dev/null
  diff -r "$work/ref" "$work/o6" > /dev/null && echo "BASE: the same bytes" || echo "BASE: DIFFERENT bytes"
fi
if command -v jrsonnet > /dev/null; then
  names+=("jrsonnet")
  prepares+=("$(fresh o5) && mkdir $work/o5")
  cmds+=("jrsonnet -m $work/o5 --ext-str n=$n $peer/fleet.jsonnet > /dev/null")
  rm -rf "$work/o5" && mkdir "$work/o5"
  jrsonnet -m "$work/o5" --ext-str "n=$n" "$peer/fleet.jsonnet" > /dev/null
  echo "jrsonnet: $(find "$work/o5" -type f | wc -l) files, $(du -sb "$work/o5" | cut -f1) bytes"
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peak RSS (one run each, fresh directory; x = RSS / canaryc's bytes written, target <= 2x):"
for i in "${!cmds[@]}"; do
  bash -c "${prepares[$i]}"
  /usr/bin/time -f "  %M KB  %e s  ${names[$i]}" bash -c "${cmds[$i]}"
done 2>&1 | grep KB | awk -v b="$bytes" '{ printf "%s  (%.2fx)\n", $0, $1 * 1024 / b }'
python3 - "$rounds" "${#cmds[@]}" "${names[@]}" "${prepares[@]}" "${cmds[@]}" <<'PY'
import resource, statistics, subprocess, sys, time
rounds, k = int(sys.argv[1]), int(sys.argv[2])
names, prepares, cmds = sys.argv[3:3 + k], sys.argv[3 + k:3 + 2 * k], sys.argv[3 + 2 * k:]
def timed(prepare, cmd):
    subprocess.run(["bash", "-c", prepare], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["bash", "-c", cmd], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
rows = [[timed(p, c) for p, c in zip(prepares, cmds)] for _ in range(rounds)]
med = lambda i, j: statistics.median(r[i][j] for r in rows)
ratio = lambda i, j: statistics.median(r[0][j] / r[i][j] for r in rows if r[i][j] > 0)
print(f"{rounds} interleaved rounds, medians; ratio = canaryc / command (per round)")
print("| command | wall ms | cpu ms | canaryc wall / this | canaryc cpu / this |")
print("|---|---|---|---|---|")
for i, name in enumerate(names):
    print(f"| {name} | {med(i, 0) * 1e3:.0f} | {med(i, 1) * 1e3:.0f} | {ratio(i, 0):.2f}x | {ratio(i, 1):.2f}x |")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$work"/o[1-7] "$aside"
