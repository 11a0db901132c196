#!/usr/bin/env bash
# The whole `canaryc check` process on the 5,001-line plan of benches/check.rs (issue 15: under
# 10 ms), beside the same process on an 81-line plan of the same shape (start-up, reading, the
# stdlib: what a plan of any size pays) and `true` (the cost of starting any process). With
# CANARYC_BASELINE=/path/to/an/older/canaryc, that binary runs both plans in the same session.
#
# Rounds are interleaved: each round runs every command once, in a shuffled order, so a burst of
# load elsewhere on the machine falls on all of them alike. Reported per command: the median and
# tenth percentile of wall time, and the median CPU time of the process (user + system, from
# wait4's rusage: the work the process did, whatever else the machine was running).
#
#   benches/check-process.sh            # after `cargo build --release --bin canaryc`
#   ROUNDS=300 CANARYC_BASELINE=/tmp/canaryc-main benches/check-process.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CANARYC_BIN:-target/release/canaryc}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 benches/make_check_plan.py 5000 > "$dir/large.plan"
python3 benches/make_check_plan.py 80 4 > "$dir/small.plan"
export CANARYC_TODAY=2026-11-27
commands=("true=$(type -P true)" "small=$bin check $dir/small.plan" "large=$bin check $dir/large.plan")
if [[ -n "${CANARYC_BASELINE:-}" ]]; then
  commands+=("baseline small=$CANARYC_BASELINE check $dir/small.plan"
    "baseline large=$CANARYC_BASELINE check $dir/large.plan")
fi
# Each plan must check clean: a plan with errors would time the error path.
for plan in "$dir/small.plan" "$dir/large.plan"; do
  "$bin" check "$plan" 2>&1 | grep -q '0 errors, 0 warnings' || { echo "$plan does not check clean" >&2; exit 1; }
done
echo "lines: $(wc -l < "$dir/small.plan") and $(wc -l < "$dir/large.plan"); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "${ROUNDS:-200}" "${commands[@]}" <<'EOF'
import os, random, statistics, sys, time

rounds = int(sys.argv[1])
commands = [arg.split("=", 1) for arg in sys.argv[2:]]
devnull = os.open(os.devnull, os.O_WRONLY)
actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]

def run(argv):
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed")
    return wall, usage.ru_utime + usage.ru_stime

times = {name: ([], []) for name, _ in commands}
warmup = 5
for n in range(warmup + rounds):
    order = list(commands)
    random.shuffle(order)
    for name, command in order:
        wall, cpu = run(command.split())
        if n >= warmup:
            times[name][0].append(wall)
            times[name][1].append(cpu)

ms = lambda s: f"{s * 1e3:.2f} ms"
print(f"{rounds} interleaved rounds; load average after: {' '.join(open('/proc/loadavg').read().split()[:3])}")
print("| command | wall median | wall p10 | CPU median |")
print("|---|---:|---:|---:|")
for name, _ in commands:
    wall, cpu = times[name]
    wall.sort()
    print(f"| {name} | {ms(statistics.median(wall))} | {ms(wall[len(wall) // 10])} | {ms(statistics.median(cpu))} |")
EOF
