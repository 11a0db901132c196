"""The plan of benches/check.rs (`large_plan`), written to stdout: `make_check_plan.py LINES [STAGES]`.

With the default 40 stages the schedule alone is 213 lines; `make_check_plan.py 80 4` is an 80-line
plan of the same shape (the small plan `benches/check-process.sh` times beside the large one)."""
import sys
def large_plan(lines, stages=40):
    out = "# Generated for the benchmark: a fleet on one schedule.\nuse std.rollback.defaults\n\nplan fleet {\n  namespace = \"fleet\"\n  python = 2.7 -> 3.13\n  infra = [kubernetes(router: istio), bare-metal(router: haproxy)]\n  start = 2027-01-11\n  route { sticky = cookie(\"py_version\") }\n  rollback = defaults { error_rate > 0.5% }\n"
    out += "  schedule {\n"
    for i in range(stages):
        last = i == stages-1
        traffic = 100.0 if last else 0.1 + i*2.0
        crit = "error_rate < 0.25%" if last else "error_rate < 0.25% and latency p99 < 1.5x py2"
        # As Rust prints an f64: 100.0 as "100", 2.1 as "2.1".
        ts = ("%r" % traffic)
        if ts.endswith(".0"): ts = ts[:-2]
        out += "    stage step-%d {\n      traffic = %s%%\n      hold = 24h\n      success when { %s }\n    }\n" % (i, ts, crit)
    out += "  }\n"
    n = 0
    while out.count("\n") < lines:
        out += "  service svc-%d {\n    port = %d\n    health = \"/healthz\"\n    replicas = 3\n    image py2 = \"registry.internal/svc-%d:2.7\"\n    image py3 = \"registry.internal/svc-%d:3.13\"\n    resources {\n      cpu = 0.5\n      memory = 512Mi\n    }\n    env py3 { LANG = \"C.UTF-8\" }\n  }\n" % (n, 8000 + n % 1000, n, n)
        n += 1
    out += "}\n"
    return out
sys.stdout.write(large_plan(int(sys.argv[1]), *[int(a) for a in sys.argv[2:3]]))
