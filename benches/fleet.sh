#!/usr/bin/env bash
# canaryc building every output for a 1,000-service plan, side by side with jrsonnet rendering
# shared/bench/jsonnet/fleet.jsonnet (4 files per service) for the same fleet.
# Target: canaryc under 0.35 s and 100 MB peak, and faster than jrsonnet.
#
# Usage: benches/fleet.sh [SERVICES=1000]   (needs hyperfine; jrsonnet via
#        cargo install jrsonnet --version 0.5.0-pre98 --locked)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
work="${TMPDIR:-/tmp}/canaryc-fleet-$n"
peer="$(cd ../shared/bench/jsonnet && pwd)"
mkdir -p "$work"
python3 benches/make_fleet_plan.py "$n" > "$work/fleet.plan"
cargo build --release --quiet
bin="$(pwd)/target/release/canaryc"
"$bin" build "$work/fleet.plan" --output "$work/out" > /dev/null
echo "canaryc: $(ls "$work/out" | wc -l) files, $(du -sh "$work/out" | cut -f1)"
echo "peak memory (max RSS):"
/usr/bin/time -f "  canaryc  %M KB  %e s" "$bin" build "$work/fleet.plan" --output "$work/out" > /dev/null
cmds=("$bin build $work/fleet.plan --output $work/out")
if command -v jrsonnet > /dev/null; then
  mkdir -p "$work/peer"
  /usr/bin/time -f "  jrsonnet %M KB  %e s" jrsonnet -m "$work/peer" --ext-str "n=$n" "$peer/fleet.jsonnet" > /dev/null
  echo "jrsonnet: $(ls "$work/peer" | wc -l) files, $(du -sh "$work/peer" | cut -f1)"
  cmds+=("jrsonnet -m $work/peer --ext-str n=$n $peer/fleet.jsonnet")
fi
hyperfine --warmup 2 --runs 10 "${cmds[@]}"
