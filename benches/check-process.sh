#!/usr/bin/env bash
# The whole `canaryc check` process on the 5,000-line plan of benches/check.rs (issue 15:
# under 10 ms), beside the same process on an 80-line plan (start-up, reading, the stdlib: the
# floor a plan of any size pays). With CANARYC_BASELINE=/path/to/an/older/canaryc, that binary
# runs in the same hyperfine session, so the ratio is paired.
#
#   benches/check-process.sh            # after `cargo build --release`
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CANARYC_BIN:-target/release/canaryc}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 benches/make_check_plan.py 5000 > "$dir/large.plan"
python3 benches/make_check_plan.py 80 > "$dir/small.plan"
export CANARYC_TODAY=2026-11-27
"$bin" check "$dir/large.plan" >/dev/null
commands=("$bin check $dir/large.plan" "$bin check $dir/small.plan")
if [[ -n "${CANARYC_BASELINE:-}" ]]; then
  commands+=("$CANARYC_BASELINE check $dir/large.plan")
fi
hyperfine -N --warmup 20 --runs "${RUNS:-200}" "${commands[@]}"
