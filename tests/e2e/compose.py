#!/usr/bin/env python3
"""End-to-end on Docker Compose: `docker compose up` rolls back and ramps up by itself.

Runs examples/e2e-compose for real: the generated docker-compose-canary.yml with the app under
Python 2.7.18 and Python 3.12 (pyenv) in containers, HAProxy, and canaryc's loop inside the
project (Prometheus, Alertmanager, the rollback receiver running `canaryc rollback`, and
`canaryc promote` on a schedule). No registry is reachable, so every image the compose file
names is built here FROM scratch from the host's interpreters and binaries (haproxy, prometheus,
alertmanager, webhook, canaryc) and their `ldd` libraries, tagged with the exact names the file
uses.

Scenario 1 (healthy): bounded traffic on loopback; the canary-promote service moves py3 from
10% to 50% to 100% by itself once each (shortened) hold has elapsed and the stage's criteria
hold on Prometheus, then waits at the approval gate until `canaryc promote --approve`.

Scenario 2 (fault): a fresh stack at 10%; traffic reaches /report, which fails on py3 only. The
rollback alert fires, Alertmanager calls the receiver, py3's weight goes to 0; clients see no
errors (HAProxy retries idempotent requests on py2).

Scenario 3 (by hand, HAProxy and nginx): no engine; the runbook's own commands, run as written
in the bundle's directory, start the stack, move py3 from 10% to 50% and roll it back to 0 with
no client-visible errors.

Usage: tests/e2e/compose.py [--canaryc PATH] [--only loop|by-hand]   (as root: it starts dockerd when none runs, and
stops what it started). Ports are on 127.0.0.1, chosen free at run time; the run ends by itself.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as e2e  # noqa: E402  the loopback harness's helpers: Load, http_get, free_port, check

ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, "examples", "e2e-compose")
APP = os.path.join(ROOT, "examples", "e2e-wsgi", "app.py")
PROJECT = "canaryc-e2e"
# seconds, every stage. The criteria are sequential tests (tests/e2e/run.py, scenario 3): the
# 10% stage passes `error_rate < 1%` only after about 280 of py3's requests, 360 in 45 s at the
# ramp-up's 80 requests a second.
HOLD = 45
check = e2e.check


def sh(argv, timeout=300, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def libraries(binary):
    """The shared libraries `ldd` says a binary loads, loader included."""
    out = sh(["ldd", binary]).stdout
    libs = set()
    for line in out.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.add(m.group(1))
    return libs


def rootfs(dir, files=(), trees=(), dirs=()):
    """A root filesystem: host files at their own paths (or `(src, dest)`), with their
    libraries; whole trees copied; empty directories made."""
    libs = set()
    for f in files:
        src, dest = f if isinstance(f, tuple) else (f, f)
        os.makedirs(os.path.dirname(dir + dest), exist_ok=True)
        shutil.copy2(os.path.realpath(src), dir + dest)
        libs |= libraries(src)
    skip = shutil.ignore_patterns("test", "tests", "__pycache__", "idlelib", "tkinter", "ensurepip",
                                  "site-packages", "*.a", "lib2to3", "pydoc_data", "turtledemo")
    for src, dest in trees:
        shutil.copytree(src, dir + dest, symlinks=True, ignore=skip)
        for so in glob.glob(dir + dest + "/**/*.so*", recursive=True) + [dir + dest + "/bin/python"]:
            if os.path.isfile(so) and not os.path.islink(so):
                libs |= {l for l in libraries(so) if not l.startswith(src)}
    for lib in libs:
        os.makedirs(os.path.dirname(dir + lib), exist_ok=True)
        if not os.path.exists(dir + lib):
            shutil.copy2(os.path.realpath(lib), dir + lib)
    for d in dirs:
        os.makedirs(dir + d, exist_ok=True)


def image(workdir, tag, dockerfile_tail, **fs):
    ctx = os.path.join(workdir, "images", tag.replace("/", "_").replace(":", "_"))
    rootfs(os.path.join(ctx, "rootfs"), **fs)
    with open(os.path.join(ctx, "Dockerfile"), "w") as fh:
        fh.write("FROM scratch\nCOPY rootfs/ /\n" + dockerfile_tail)
    built = sh(["docker", "build", "-q", "-t", tag, ctx], timeout=600)
    if built.returncode != 0:
        raise RuntimeError("docker build %s: %s" % (tag, built.stderr[-2000:]))
    shutil.rmtree(ctx, ignore_errors=True)


def build_images(workdir, canaryc):
    py = lambda v: sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/%s/bin/python" % v)))[-1]
    for version, tag in (("2.7.*", "canaryc-e2e/wsgi-shop:2.7"), ("3.12.*", "canaryc-e2e/wsgi-shop:3.12")):
        # The interpreter keeps its host path: its libpython is found through the RPATH pyenv set.
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(py(version))))
        image(workdir, tag,
              'ENV PATH=%s/bin HOST=0.0.0.0\nCMD ["%s/bin/python", "/app/app.py"]\n' % (prefix, prefix),
              files=[(APP, "/app/app.py")], trees=[(prefix, prefix)], dirs=["/tmp"])
    # As the official image runs it (its entrypoint adds `-W -db`): master-worker mode, whose
    # master reloads the config on SIGHUP, which the by-hand runbook sends.
    image(workdir, "haproxy:2.8",
          'ENTRYPOINT ["/usr/sbin/haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]\n',
          files=[shutil.which("haproxy")], dirs=["/var/lib/haproxy", "/usr/local/etc/haproxy", "/tmp"])
    # nginx as the official image lays it out: conf.d/default.conf included in the http block.
    etc = os.path.join(workdir, "nginx-etc")
    os.makedirs(etc, exist_ok=True)
    for name, text in (("nginx.conf", NGINX_CONF), ("passwd", "root:x:0:0::/:/bin/false\nnobody:x:65534:65534::/:/bin/false\n"),
                       ("group", "root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n")):
        with open(os.path.join(etc, name), "w") as fh:
            fh.write(text)
    image(workdir, "nginx:1.27", 'CMD ["/usr/sbin/nginx", "-g", "daemon off;"]\n',
          files=[shutil.which("nginx"), (os.path.join(etc, "nginx.conf"), "/etc/nginx/nginx.conf"),
                 (os.path.join(etc, "passwd"), "/etc/passwd"), (os.path.join(etc, "group"), "/etc/group")],
          dirs=["/etc/nginx/conf.d", "/var/log/nginx", "/var/lib/nginx/body", "/var/lib/nginx/proxy", "/run", "/tmp"])
    image(workdir, "prom/prometheus:v2.53.1", 'ENTRYPOINT ["/bin/prometheus"]\n',
          files=[(shutil.which("prometheus"), "/bin/prometheus")], dirs=["/prometheus", "/tmp"])
    image(workdir, "prom/alertmanager:v0.27.0", 'ENTRYPOINT ["/bin/alertmanager"]\n',
          files=[(shutil.which("prometheus-alertmanager"), "/bin/alertmanager")]
          + glob.glob("/usr/share/prometheus/alertmanager/*.tmpl"), dirs=["/alertmanager", "/tmp"])
    image(workdir, "canaryc:0.1.0", "ENV PATH=/usr/local/bin\n",
          files=[(canaryc, "/usr/local/bin/canaryc"), (shutil.which("webhook"), "/usr/local/bin/webhook")],
          dirs=["/var/lib/canaryc", "/tmp"])


NGINX_CONF = """user nobody nogroup;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    include /etc/nginx/conf.d/*.conf;
}
"""


class Docker:
    """dockerd, started here when none runs, stopped here."""

    def __init__(self, workdir):
        self.proc = None
        if sh(["docker", "info"], timeout=30).returncode == 0:
            return
        log = open(os.path.join(workdir, "dockerd.log"), "w")
        self.proc = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        e2e.wait_for("dockerd", lambda: sh(["docker", "info"], timeout=30).returncode == 0, timeout=60, interval=1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Stack:
    def __init__(self, out, prometheus_port):
        self.out = out
        self.env = dict(os.environ, CANARY_PROMETHEUS_PORT=str(prometheus_port))

    def compose(self, *args, timeout=180):
        return sh(["docker", "compose", "-p", PROJECT, "-f", os.path.join(self.out, "docker-compose-canary.yml")]
                  + list(args), timeout=timeout, env=self.env, cwd=self.out)

    def promote(self, *extra):
        done = self.compose("exec", "-T", "canary-promote", "canaryc", "promote", "--config",
                            "/etc/canaryc/canary-promote.json", "--format", "json", *extra, timeout=60)
        try:
            return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return done.returncode, {"status": "error", "stderr": done.stderr.strip()[-500:]}


def lb_weights(stats_port):
    """{server: weight} of the backend, from HAProxy's Prometheus exporter."""
    status, body = e2e.http_get("http://127.0.0.1:%d/metrics" % stats_port)
    out = {}
    for m in re.finditer(r'haproxy_server_weight\{proxy="wsgi-shop",server="(py[23])"\} (\d+)', body or ""):
        out[m.group(1)] = int(m.group(2))
    return out


def setup(canaryc, workdir):
    port = e2e.free_block(1)
    stats, prom = e2e.free_port({port}), e2e.free_port({port})
    plan = open(os.path.join(EXAMPLE, "canary.plan")).read()
    plan = re.sub(r"(?m)^const port\s*=.*$", "const port  = %d" % port, plan)
    plan = re.sub(r"(?m)^const stats\s*=.*$", "const stats = %d" % stats, plan)
    plan = re.sub(r"(?m)^(\s*hold\s*=\s*)\S+$", r"\g<1>%ds" % HOLD, plan)
    with open(os.path.join(workdir, "canary.plan"), "w") as fh:
        fh.write(plan)
    out = os.path.join(workdir, "out")
    built = sh([canaryc, "build", "canary.plan", "--output", out], cwd=workdir, env=dict(os.environ, NO_COLOR="1"))
    if built.returncode != 0:
        raise RuntimeError("canaryc build failed:\n" + built.stderr)
    return {"port": port, "stats": stats, "prom": prom, "out": out}


def up(env):
    stack = Stack(env["out"], env["prom"])
    stack.compose("down", "-v", "--remove-orphans")
    started = stack.compose("up", "-d")
    if started.returncode != 0:
        raise RuntimeError("docker compose up: " + started.stderr[-2000:])
    base = "http://127.0.0.1:%d" % env["port"]
    e2e.wait_for("the load balancer and both copies",
                 lambda: e2e.http_get(base + "/healthz")[0] == 200 and len(lb_weights(env["stats"])) == 2,
                 timeout=90, interval=1)
    e2e.wait_for("Prometheus's rules", lambda: "CanaryPy3ErrorRate" in (e2e.http_get(
        "http://127.0.0.1:%d/api/v1/rules" % env["prom"])[1] or ""), timeout=60, interval=1)
    return stack, base


def scenario_healthy(canaryc, env):
    print("\n== compose 1: a healthy py3 ramps up by itself and waits at the approval gate", flush=True)
    stack, base = up(env)
    try:
        seen, changes, t0 = [], [], time.time()
        with e2e.Load(base, 80, ["/"]) as load:
            last = None
            while time.time() - t0 < 8 * HOLD + 60 and e2e.left() > 30:
                code, status = stack.promote("--status")
                w = lb_weights(env["stats"])
                key = (status.get("status"), status.get("stage"), w.get("py3"))
                if key != last:
                    changes.append((round(time.time() - t0), key))
                    print("     %3d s: %s, py3 weight %s" % (time.time() - t0, status.get("stage") or status, w.get("py3")), flush=True)
                    last = key
                seen.append(key)
                if status.get("status") == "waiting-approval":
                    break
                time.sleep(2)
            weights_seen = [k[2] for _, k in changes]
            check(26 in weights_seen and 128 in weights_seen and 256 in weights_seen,
                  "canary-promote moved py3 10%% -> 50%% -> 100%% by itself (weights %s)" % weights_seen)
            stages = []
            for _, k in changes:
                if k[1] and k[1] not in stages:
                    stages.append(k[1])
            check(stages[:3] == ["canary-10pct", "canary-50pct", "full-cutover"],
                  "stages reached in order: %s; advanced two stages by itself" % stages)
            check(last and last[0] == "waiting-approval", "full-cutover passed its criteria and waits for approval")
            time.sleep(3 * 5)
            code, status = stack.promote("--status")
            check(status.get("status") == "waiting-approval" and status.get("approval") == "stakeholder sign-off",
                  "15 s later it still waits at the gate: %s" % status.get("status"))
            code, approved = stack.promote("--approve")
            check(code == 0 and approved.get("status") == "done", "with --approve the last stage completes: %s" % approved)
            served, errors, total = load.snapshot()
        check(errors == 0, "client-visible errors during the ramp-up: %d of %d requests%s" % (errors, total, load.kinds()))
        firing = [a["labels"]["alertname"] for a in json.loads(e2e.http_get(
            "http://127.0.0.1:%d/api/v1/alerts" % env["prom"])[1])["data"]["alerts"] if a["state"] == "firing"]
        check(not firing, "no rollback alert fired: %s" % firing)
        return changes
    finally:
        logs = stack.compose("logs", "--no-color", "canary-promote", timeout=60).stdout
        with open(os.path.join(os.path.dirname(env["out"]), "promote.log"), "w") as fh:
            fh.write(logs)
        stack.compose("down", "-v", timeout=120)


def scenario_fault(canaryc, env):
    print("\n== compose 2: py3 breaks on /report and the stack rolls it back by itself", flush=True)
    stack, base = up(env)
    try:
        with e2e.Load(base, 40, ["/"]) as load:
            time.sleep(10)
            served, _, _ = load.snapshot()
        check(served["py3"] > 0 and lb_weights(env["stats"]).get("py3") == 26,
              "before the fault py3 serves its 10%%: %s" % served)
        with e2e.Load(base, 40, ["/", "/report"]) as load:
            broke_at = time.time()
            try:
                e2e.wait_for("py3's weight to drop to 0", lambda: lb_weights(env["stats"]).get("py3") == 0,
                             timeout=120, interval=0.5)
                rolled_back = time.time() - broke_at
            except RuntimeError:
                rolled_back = None
            before, _, _ = load.snapshot()
            time.sleep(10)
            after, errors, total = load.snapshot()
        ok = check(rolled_back is not None, "the rollback alert reached the receiver, which set py3's weight to 0")
        if ok:
            check(rolled_back < 90, "time from the first /report request to py3 weight 0: %.1f s" % rolled_back)
        check(after["py3"] - before["py3"] == 0, "requests py3 served in the 10 s after weight 0: %d" % (after["py3"] - before["py3"]))
        check(errors == 0, "client-visible errors: %d of %d requests (HAProxy retried py3's 500s on py2)%s" % (errors, total, load.kinds()))
        receiver = stack.compose("logs", "--no-color", "canary-rollback", timeout=60).stdout
        check("rolled back wsgi-shop" in receiver, "the receiver ran `canaryc rollback wsgi-shop`")
        code, status = stack.promote()
        check(code == 1 and status.get("status") == "rolled-back", "canary-promote refuses to move py3 now: %s" % status.get("status"))
        return rolled_back, errors, total
    finally:
        stack.compose("down", "-v", timeout=120)


def runbook_block(text, after):
    """The first ```sh block after the line containing `after` in a generated runbook."""
    at = text.index(after)
    m = re.search(r"```sh\n(.*?)```", text[at:], re.S)
    return [line.strip() for line in m.group(1).splitlines() if line.strip()]


def scenario_by_hand(canaryc, workdir, router):
    """No engine: a person runs the runbook's commands as written. They must move the split
    canary-lb applies (the config is a single-file bind mount: an edit that replaces the file
    would leave the container on the old one) and roll back with no client-visible errors."""
    print("\n== compose by hand (%s): the runbook's own commands move py3 to 50%% and back to 0" % router, flush=True)
    port = e2e.free_block(1)
    stats = e2e.free_port({port})
    plan = open(os.path.join(EXAMPLE, "canary.plan")).read()
    plan = re.sub(r"(?m)^const port\s*=.*$", "const port  = %d" % port, plan)
    plan = re.sub(r"(?m)^const stats\s*=.*$", "const stats = %d" % stats, plan)
    plan = plan.replace("router: haproxy, engine: canaryc", "router: %s, engine: none" % router)
    if router == "nginx":
        plan = plan.replace("source          = haproxy", "source          = app")
        plan = re.sub(r"(?m)^\s*stats_port\s*=.*$", "", plan)
    root = os.path.join(workdir, "by-hand-" + router)
    os.makedirs(root)
    with open(os.path.join(root, "canary.plan"), "w") as fh:
        fh.write(plan)
    out = os.path.join(root, "out")
    built = sh([canaryc, "build", "canary.plan", "--output", out], cwd=root, env=dict(os.environ, NO_COLOR="1"))
    if not check(built.returncode == 0, "canaryc build (%s, engine none): %s" % (router, built.stderr.strip()[-300:])):
        return
    runbook = open(os.path.join(out, "canary-plan.md")).read()
    rollback = open(os.path.join(out, "canary-rollback-runbook.md")).read()
    # The commands run as a person would paste them, in the bundle's directory; only the
    # project's name is set, so that this stack cannot meet another on this machine.
    env = dict(os.environ, COMPOSE_PROJECT_NAME=PROJECT + "-" + router)
    def run(command):
        done = sh(["bash", "-c", command], cwd=out, env=env, timeout=180, stdin=subprocess.DEVNULL)
        return check(done.returncode == 0, "`%s` exits 0%s" % (command[:90] + ("..." if len(command) > 90 else ""),
                                                            "" if done.returncode == 0 else ": " + done.stderr.strip()[-400:]))
    base = "http://127.0.0.1:%d" % port
    def share(seconds=6):
        with e2e.Load(base, 60, ["/"]) as load:
            time.sleep(seconds)
        served, errors, total = load.snapshot()
        return served, errors, total
    try:
        for command in runbook_block(runbook, "Start the canary stack"):
            run(command)
        try:
            e2e.wait_for("canary-lb and both copies", lambda: e2e.http_get(base + "/healthz")[0] == 200, timeout=90, interval=1)
        except RuntimeError:
            logs = sh(["docker", "compose", "-f", "docker-compose-canary.yml", "logs", "--no-color", "--tail", "20"],
                      cwd=out, env=env, timeout=60).stdout
            raise RuntimeError("%s stack never answered /healthz; its logs:\n%s" % (router, logs[-3000:]))
        time.sleep(3)
        served, errors, total = share()
        check(errors == 0 and 0 < served["py3"] < 0.25 * total,
              "%s at the first stage (10%%): py3 served %d of %d, %d errors" % (router, served["py3"], total, errors))
        for command in runbook_block(runbook, "Stage `canary-50pct`"):
            run(command)
        time.sleep(2)
        served, errors, total = share()
        check(errors == 0 and 0.35 * total < served["py3"] < 0.65 * total,
              "%s after the runbook's canary-50pct command: py3 served %d of %d, %d errors" % (router, served["py3"], total, errors))
        manual = rollback[rollback.index("## Manual rollback"):]
        with e2e.Load(base, 60, ["/"]) as load:
            time.sleep(1)
            for command in runbook_block(manual, "### Docker Compose"):
                run(command)
            time.sleep(4)
            during = load.snapshot()
        time.sleep(2)
        served, errors, total = share()
        check(served["py3"] == 0 and errors == 0 and total > 0,
              "%s after the runbook's manual rollback: py3 served %d of %d, %d errors" % (router, served["py3"], total, errors))
        check(during[1] == 0, "%s: client-visible errors while rolling back: %d of %d%s" % (router, during[1], during[2], load.kinds()))
        verify = manual[manual.index("## Verify"):]
        for command in runbook_block(verify, "### Docker Compose"):
            run(command)
    finally:
        sh(["docker", "compose", "-f", "docker-compose-canary.yml", "down", "-v"], cwd=out, env=env, timeout=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaryc", default=os.path.join(ROOT, "target", "debug", "canaryc"))
    parser.add_argument("--only", choices=["loop", "by-hand"], help="run only these scenarios")
    args = parser.parse_args()
    args.canaryc = os.path.abspath(args.canaryc)
    for tool in ("docker", "haproxy", "nginx", "prometheus", "prometheus-alertmanager", "webhook"):
        if not shutil.which(tool):
            sys.exit("e2e: %s is not installed (see docs/e2e.md)" % tool)
    e2e.DEADLINE = time.time() + 900
    workdir = tempfile.mkdtemp(prefix="canaryc-e2e-compose-")
    docker = None
    t0 = time.time()
    try:
        docker = Docker(workdir)
        build_images(workdir, args.canaryc)
        print("images built in %.0f s" % (time.time() - t0), flush=True)
        if args.only != "by-hand":
            env = setup(args.canaryc, workdir)
            scenario_healthy(args.canaryc, env)
            scenario_fault(args.canaryc, env)
        if args.only != "loop":
            for router in os.environ.get("CANARYC_E2E_ROUTERS", "haproxy nginx").split():
                scenario_by_hand(args.canaryc, workdir, router)
    except Exception as error:  # a harness failure is a test failure, reported as one
        check(False, "harness: %s" % error)
    finally:
        if docker:
            docker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    passed = sum(1 for ok, _ in e2e.results if ok)
    failed = len(e2e.results) - passed
    print("\ncompose e2e in %.0f s" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
