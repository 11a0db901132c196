#!/usr/bin/env python3
"""End-to-end: a real py2/py3 canary on loopback rolls itself back.

Runs examples/e2e-wsgi for real: the app under Python 2.7.18 and Python 3 (pyenv), HAProxy with
the generated haproxy-canary.cfg, Prometheus with the generated prometheus.yml and
prometheus-alerts.yaml, Alertmanager with the generated alertmanager.yml, and the `webhook`
daemon with the generated webhook-hooks.yaml, which runs the generated canary-rollback.sh.

Scenario 1 (fault): steady traffic at the first stage's split, then traffic reaches /report,
which fails on py3 only (sorted() over None and ints). The rollback alert must fire, reach
Alertmanager and the webhook, and set py3's weight to 0 through HAProxy's runtime API; clients
must see no errors (HAProxy retries idempotent requests on py2).

Scenario 2 (healthy): the harness advances two stages with canary-set-weight.sh, exactly as the
runbook says, and no rollback happens. Then it forges calls to the rollback webhook (no token, a
wrong token, the right token with a service name that smuggles HAProxy admin commands): every one
is refused and HAProxy's servers are unchanged.

Usage: tests/e2e/run.py [--canaryc PATH]   (as root: it installs into /etc/canaryc and /run/haproxy
as the runbook does, and removes them afterwards). Every port is on 127.0.0.1, chosen free at run
time; every process is started here and stopped here; the run ends by itself within 5 minutes.
"""
import argparse
import collections
import glob
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "e2e-wsgi")
NAME = "wsgi-shop"
INSTALL_DIR = "/etc/canaryc/" + NAME
PROMOTE_STATE_DIR = "/var/lib/canaryc/" + NAME  # where canary-promote.json keeps the stage reached
DEADLINE = time.time() + 410  # the whole run, all three scenarios

results = []  # (ok, what)


def check(ok, what):
    results.append((bool(ok), what))
    print("%s %s" % ("PASS" if ok else "FAIL", what), flush=True)
    return ok


def left():
    return DEADLINE - time.time()


def free_port(avoid=()):
    """A free loopback port; with `run`, the start of `run` consecutive free ports."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port in avoid or port > 65000:
            continue
        return port
    raise RuntimeError("no free port")


def free_block(n, avoid=()):
    for _ in range(200):
        base = free_port(avoid)
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports")


def interpreter(version_glob):
    paths = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/%s/bin/python" % version_glob)))
    if not paths:
        paths = sorted(glob.glob("/root/.pyenv/versions/%s/bin/python" % version_glob))
    if not paths:
        sys.exit("e2e: no Python %s under pyenv" % version_glob)
    return paths[-1]


def http_get(url, timeout=3.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except Exception as e:  # connection refused and friends
        return None, str(e)


def wait_for(what, predicate, timeout=30.0, interval=0.25):
    end = time.time() + min(timeout, max(left(), 1))
    while time.time() < end:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(interval)
    raise RuntimeError("timed out waiting for " + what)


class Processes:
    """Everything the harness starts, stopped whatever happens."""

    def __init__(self, workdir):
        self.procs = []
        self.workdir = workdir

    def start(self, name, argv, env=None):
        log = open(os.path.join(self.workdir, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
                             start_new_session=True)
        self.procs.append((name, p, log))
        return p

    def log(self, name):
        with open(os.path.join(self.workdir, name + ".log")) as fh:
            return fh.read()

    def stop_one(self, name):
        for entry in list(self.procs):
            n, p, log = entry
            if n == name:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
                log.close()
                self.procs.remove(entry)

    def stop(self):
        for _, p, _ in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, p, log in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
            log.close()
        self.procs = []


def systemd_words(value):
    """A systemd command line or assignment list split into words: quotes, C escapes, and
    `$$`/`%%` back to `$`/`%` (what canaryc's escaper writes; no specifiers are used)."""
    words = []
    for word in shlex.split(value, posix=True):
        words.append(word.replace("$$", "$").replace("%%", "%"))
    return words


def unit(path):
    """ExecStart and Environment of a systemd unit, as systemd would run it."""
    env, exec_start = {}, None
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("Environment="):
                for assignment in systemd_words(line[len("Environment="):]):
                    k, _, v = assignment.partition("=")
                    env[k] = v
            elif line.startswith("ExecStart="):
                exec_start = systemd_words(line[len("ExecStart="):])
    return exec_start, env


def haproxy_cmd(sock, command):
    out = subprocess.run(["socat", "stdio", "unix-connect:" + sock], input=command + "\n",
                         capture_output=True, text=True, timeout=5)
    return out.stdout


def weights(sock):
    """{server: (weight, admin_state)} from `show servers state`."""
    text = haproxy_cmd(sock, "show servers state " + NAME)
    out = {}
    for line in text.splitlines():
        parts = line.split()
        # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight ...
        if len(parts) > 8 and parts[1] == NAME:
            out[parts[3]] = (int(parts[7]), int(parts[6]))
    return out


class Load:
    """A bounded load generator: N requests per second through HAProxy, in threads."""

    def __init__(self, base_url, rate, paths):
        self.base_url, self.rate, self.paths = base_url, rate, paths
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.served = {"py2": 0, "py3": 0}
        self.errors = 0
        self.error_kinds = collections.Counter()
        self.requests = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def one(self, path):
        status, body = http_get(self.base_url + path, timeout=5)
        with self.lock:
            self.requests += 1
            if status != 200:
                self.errors += 1
                # What failed (a status, or the client's exception), so a failed run says
                # whether the canary broke requests or the machine starved the client.
                self.error_kinds[str(status) if status else body[:60]] += 1
                return
            try:
                self.served[json.loads(body)["served_by"]] += 1
            except (ValueError, KeyError):
                self.errors += 1
                self.error_kinds["unparsable body"] += 1

    def run(self):
        i = 0
        interval = 1.0 / self.rate
        next_at = time.time()
        while not self.stop_flag.is_set() and left() > 5:
            path = self.paths[i % len(self.paths)]
            threading.Thread(target=self.one, args=(path,), daemon=True).start()
            i += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.time()))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(timeout=10)
        time.sleep(1)  # let in-flight requests finish

    def snapshot(self):
        with self.lock:
            return dict(self.served), self.errors, self.requests

    def kinds(self):
        """What the failed requests were, e.g. ` ({'timed out': 2})`, or nothing when none failed."""
        with self.lock:
            return " (%s)" % dict(self.error_kinds) if self.error_kinds else ""


def app_requests(port):
    """Requests the app copy counted (all statuses), from its own /metrics."""
    status, body = http_get("http://127.0.0.1:%d/metrics" % port)
    total = 0
    for line in body.splitlines():
        m = re.match(r'http_requests_total\{[^}]*\} (\d+)', line)
        if m:
            total += int(m.group(1))
    return total


def fired_recently(prom_port):
    """Alert names that were firing at any time in the last five minutes."""
    query = urllib.request.quote('count by (alertname) (max_over_time(ALERTS{alertstate="firing"}[5m]))')
    status, body = http_get("http://127.0.0.1:%d/api/v1/query?query=%s" % (prom_port, query))
    if status != 200:
        return []
    return sorted(r["metric"]["alertname"] for r in json.loads(body)["data"]["result"])


def firing_alerts(prom_port):
    status, body = http_get("http://127.0.0.1:%d/api/v1/alerts" % prom_port)
    if status != 200:
        return []
    return [a for a in json.loads(body)["data"]["alerts"] if a["state"] == "firing"]


def setup(canaryc, workdir, procs, hold=None):
    """Build the bundle with free ports, install it as the runbook says, start every part.
    `hold` (e.g. "15s") shortens every stage's hold, for the promote scenario."""
    port = free_block(3)
    stats, am, hook, prom = (free_port({port, port + 1, port + 2}) for _ in range(4))
    py2, py3 = interpreter("2.7.*"), interpreter("3.12.*")
    app = os.path.join(EXAMPLE, "app.py")
    plan = open(os.path.join(EXAMPLE, "canary.plan")).read()
    for const, value in [("port", port), ("stats", stats), ("alertmanager", am), ("webhook", hook)]:
        plan = re.sub(r"(?m)^const %s\s*=.*$" % const, "const %s = %d" % (const, value), plan)
    plan = re.sub(r'(?m)^const py2_command\s*=.*$', 'const py2_command = "%s %s"' % (py2, app), plan)
    plan = re.sub(r'(?m)^const py3_command\s*=.*$', 'const py3_command = "%s %s"' % (py3, app), plan)
    plan = plan.replace('codebase = "."', 'codebase = "%s"' % EXAMPLE)
    plan = re.sub(r'(?m)^const prometheus\s*=.*$', 'const prometheus   = "http://127.0.0.1:%d"' % prom, plan)
    if hold:
        plan = re.sub(r"(?m)^(\s*hold\s*=\s*)\S+$", r"\g<1>" + hold, plan)
    with open(os.path.join(workdir, "canary.plan"), "w") as fh:
        fh.write(plan)
    out = os.path.join(workdir, "out")
    built = subprocess.run([canaryc, "build", "canary.plan", "--output", out], cwd=workdir,
                           capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"))
    if built.returncode != 0:
        sys.exit("e2e: canaryc build failed:\n" + built.stderr)

    # Install as the runbook says: scripts into the install directory, HAProxy's run and state dirs.
    os.makedirs(INSTALL_DIR, exist_ok=True)
    for script in ("canary-rollback.sh", "canary-set-weight.sh", "canary-promote.json"):
        shutil.copy(os.path.join(out, script), INSTALL_DIR)
        os.chmod(os.path.join(INSTALL_DIR, script), 0o755)
    # The rollback token, as the runbook makes it: Alertmanager sends it, the script checks it.
    token = secrets.token_hex(32)
    token_file = os.path.join(INSTALL_DIR, "webhook-token")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    os.makedirs("/run/haproxy", exist_ok=True)
    os.makedirs("/var/lib/haproxy", exist_ok=True)
    state = "/var/lib/haproxy/%s-server-state" % NAME
    if os.path.exists(state):
        os.remove(state)
    sock = "/run/haproxy/%s-admin.sock" % NAME
    shutil.rmtree(PROMOTE_STATE_DIR, ignore_errors=True)

    for copy in ("py2", "py3"):
        argv, env = unit(os.path.join(out, "systemd-%s.service" % copy))
        procs.start(copy, argv, env=dict(os.environ, **env))
    for copy, p in (("py2", port + 1), ("py3", port + 2)):
        wait_for(copy + " to listen", lambda p=p: http_get("http://127.0.0.1:%d/healthz" % p)[0] == 200)
    procs.start("haproxy", ["haproxy", "-db", "-f", os.path.join(out, "haproxy-canary.cfg")])
    wait_for("HAProxy's admin socket", lambda: weights(sock).get("py3") is not None)
    procs.start("prometheus", ["prometheus", "--config.file=" + os.path.join(out, "prometheus.yml"),
                               "--storage.tsdb.path=" + os.path.join(workdir, "prometheus"),
                               "--web.listen-address=127.0.0.1:%d" % prom])
    procs.start("alertmanager", ["prometheus-alertmanager", "--config.file=" + os.path.join(out, "alertmanager.yml"),
                                 "--storage.path=" + os.path.join(workdir, "alertmanager"),
                                 "--web.listen-address=127.0.0.1:%d" % am, "--cluster.listen-address="])
    # canaryc on the webhook's PATH, as the runbook installs it: canary-rollback.sh then rolls
    # back through `canaryc rollback`, under promote's lock, and records it in promote's state.
    path = os.path.dirname(canaryc) + os.pathsep + os.environ.get("PATH", "")
    procs.start("webhook", ["webhook", "-hooks", os.path.join(out, "webhook-hooks.yaml"), "-ip", "127.0.0.1",
                            "-port", str(hook), "-verbose"], env=dict(os.environ, PATH=path))
    wait_for("Prometheus", lambda: http_get("http://127.0.0.1:%d/-/ready" % prom)[0] == 200)
    wait_for("Alertmanager", lambda: http_get("http://127.0.0.1:%d/-/ready" % am)[0] == 200)
    wait_for("the webhook", lambda: http_get("http://127.0.0.1:%d/hooks/none" % hook)[0] is not None)
    wait_for("rules loaded", lambda: "CanaryPy3ErrorRate" in http_get("http://127.0.0.1:%d/api/v1/rules" % prom)[1])
    return {"port": port, "prom": prom, "sock": sock, "out": out, "hook": hook, "token": token,
            "haproxy_cfg": os.path.join(out, "haproxy-canary.cfg")}


def share_ok(served, expected_pct, what):
    n = served["py2"] + served["py3"]
    p = expected_pct / 100.0
    got = served["py3"] / float(n) if n else 0.0
    # HAProxy's weighted round robin is close to exact; allow 4 binomial standard deviations.
    sd = (p * (1 - p) / max(n, 1)) ** 0.5
    return check(n > 100 and abs(got - p) <= 4 * sd + 0.01,
                 "%s: py3 served %.1f%% of %d requests (stage %g%%)" % (what, got * 100, n, expected_pct))


def scenario_fault(canaryc):
    print("\n== scenario 1: py3 breaks on /report and rolls itself back", flush=True)
    workdir = tempfile.mkdtemp(prefix="canaryc-e2e-fault-")
    procs = Processes(workdir)
    try:
        env = setup(canaryc, workdir, procs)
        base = "http://127.0.0.1:%d" % env["port"]
        first_weights = weights(env["sock"])
        with Load(base, 40, ["/"]) as load:
            time.sleep(25)
            served, errors, _ = load.snapshot()
        share_ok(served, 10, "before the fault")
        check(not firing_alerts(env["prom"]), "before the fault: no alert fires")
        check(first_weights.get("py3", (0,))[0] > 0, "py3 starts with weight %s" % (first_weights.get("py3"),))

        py3_port = env["port"] + 2
        with Load(base, 40, ["/", "/report"]) as load:
            wait_for("py3's first failure", lambda: "FAIL " in procs.log("py3"), timeout=60)
            first_fail = float(procs.log("py3").split("FAIL ", 1)[1].split()[0])
            try:
                wait_for("py3's weight to drop to 0", lambda: weights(env["sock"])["py3"][0] == 0, timeout=150, interval=0.2)
                rolled_back_at = time.time()
            except RuntimeError:
                rolled_back_at = None
            served_at_rollback = app_requests(py3_port)
            time.sleep(15)
            served_after = app_requests(py3_port) - served_at_rollback
            _, client_errors, total = load.snapshot()
        ok = check(rolled_back_at is not None, "the rollback alert fired, Alertmanager and the webhook ran the rollback")
        if ok:
            seconds = rolled_back_at - first_fail
            check(seconds < 120, "time from py3's first failing response to weight 0: %.1f s" % seconds)
        alerts = fired_recently(env["prom"])
        check("CanaryPy3ErrorRate" in alerts, "Prometheus fired %s (and resolved it once py3 had no traffic)" % ", ".join(alerts))
        check("rolled back " + NAME in procs.log("webhook"), "the webhook ran canary-rollback.sh")
        state = weights(env["sock"])
        check(state.get("py3", (1, 0))[1] & 1 == 1, "py3 is in maintenance: %s" % (state,))
        with open("/var/lib/haproxy/%s-server-state" % NAME) as fh:
            check(re.search(r"\b%s\b.*\bpy3\b" % NAME, fh.read()), "the rollback is saved in the server-state file")
        check(served_after == 0, "requests py3 served in the 15 s after weight 0: %d" % served_after)
        try:
            with open(os.path.join(PROMOTE_STATE_DIR, "promote-state.json")) as fh:
                recorded = json.load(fh).get("rolled_back")
        except (OSError, ValueError):
            recorded = None
        check(recorded is not None, "canary-rollback.sh ran `canaryc rollback`, which recorded the rollback for promote: %s" % recorded)
        check(client_errors == 0, "client-visible errors: %d of %d requests (HAProxy retried py3's 500s on py2)%s" % (client_errors, total, load.kinds()))
        code, outcome = promote(canaryc)
        check(code == 1 and outcome.get("status") == "rolled-back",
              "after the rollback promote refuses to move py3: exit %d, %s" % (code, outcome.get("status")))
    finally:
        procs.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def scenario_healthy(canaryc):
    print("\n== scenario 2: a healthy py3 advances two stages, no rollback", flush=True)
    workdir = tempfile.mkdtemp(prefix="canaryc-e2e-healthy-")
    procs = Processes(workdir)
    try:
        env = setup(canaryc, workdir, procs)
        base = "http://127.0.0.1:%d" % env["port"]
        set_weight = os.path.join(INSTALL_DIR, "canary-set-weight.sh")
        for stage, pct in (("canary-10pct", 10), ("canary-50pct", 50)):
            # The runbook's command for the stage.
            done = subprocess.run([set_weight, str(pct)], capture_output=True, text=True)
            check(done.returncode == 0, "%s: canary-set-weight.sh %d: %s" % (stage, pct, done.stdout.strip() or done.stderr.strip()))
            with Load(base, 50, ["/"]) as load:
                time.sleep(20)
                served, errors, _ = load.snapshot()
            share_ok(served, pct, stage)
            check(errors == 0, "%s: no client errors" % stage)
        check(not firing_alerts(env["prom"]), "no alert fired")
        state = weights(env["sock"])
        check(state.get("py3", (0, 0))[0] > 0 and state["py3"][1] & 1 == 0, "no rollback: py3 still takes traffic %s" % (state,))
        forged_calls_are_refused(env)
        check("rolled back" not in procs.log("webhook"), "the webhook never ran a rollback")
    finally:
        procs.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def promote(canaryc, *extra):
    """One run of `canaryc promote`, as the systemd timer runs it: (exit code, JSON outcome)."""
    done = subprocess.run([canaryc, "promote", "--config", os.path.join(INSTALL_DIR, "canary-promote.json"),
                           "--format", "json"] + list(extra), capture_output=True, text=True, timeout=60)
    try:
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        outcome = {"status": "error", "stderr": done.stderr.strip()}
    return done.returncode, outcome


def scenario_promote(canaryc):
    print("\n== scenario 3: canaryc promote ramps a healthy py3 up by itself and stops at the approval gate", flush=True)
    workdir = tempfile.mkdtemp(prefix="canaryc-e2e-promote-")
    procs = Processes(workdir)
    # The stages' criteria are sequential tests: a stage moves on only once py3's requests in
    # its hold show `error_rate < 1%` (about 280 requests with no failure against py2's rate plus
    # one point, ln 20 nats of evidence). At 80 requests a second the 10% stage gets about 360
    # in 45 s; at 15 s it would never pass, rightly.
    hold = 45
    try:
        env = setup(canaryc, workdir, procs, hold="%ds" % hold)
        base = "http://127.0.0.1:%d" % env["port"]
        with Load(base, 80, ["/"]) as load:
            code, first = promote(canaryc)
            check(code == 0 and first.get("status") == "started" and first.get("stage") == "canary-10pct",
                  "promote starts the first stage: %s" % first)
            code, held = promote(canaryc)
            check(code == 0 and held.get("status") == "holding",
                  "before the hold elapses promote holds (%s s left)" % held.get("remaining_secs"))
            # The timer: promote every 2 s, until the gate.
            seen, advanced_at, started = [], {}, time.time()
            restart_errors = 0  # requests refused while HAProxy was down for the restart (a hard stop, not a reload)
            while time.time() - started < 6 * hold and left() > 40:
                code, outcome = promote(canaryc)
                seen.append(outcome.get("status"))
                if outcome.get("status") == "advanced":
                    advanced_at[outcome["to"]] = time.time() - started
                    print("     promote: %s -> %s after %.0f s" % (outcome["from"], outcome["to"], time.time() - started), flush=True)
                    if outcome["to"] == "canary-50pct":
                        # A reload in the middle of the ramp-up: HAProxy restarts from its config and
                        # the server-state file promote saved.
                        errors_before = load.snapshot()[1]
                        procs.stop_one("haproxy")
                        procs.start("haproxy", ["haproxy", "-db", "-f", env["haproxy_cfg"]])
                        wait_for("HAProxy back", lambda: weights(env["sock"]).get("py3") is not None)
                        time.sleep(1)
                        restart_errors = load.snapshot()[1] - errors_before
                        w = weights(env["sock"])
                        check(w["py3"][0] == 128, "after an HAProxy restart py3 keeps the 50%% stage's weight: %s" % (w,))
                if outcome.get("status") == "waiting-approval":
                    break
                time.sleep(2)
            advanced = sorted(advanced_at, key=advanced_at.get)
            check(advanced == ["canary-50pct", "full-cutover"],
                  "promote advanced two stages by itself: %s (at %s s)" % (advanced, ", ".join("%.0f" % advanced_at[a] for a in advanced)))
            check(all(advanced_at[a] >= hold * (i + 1) for i, a in enumerate(advanced)),
                  "no stage moved on before its %d s hold" % hold)
            check(seen and seen[-1] == "waiting-approval", "full-cutover passed its criteria and waits for approval")
            time.sleep(3)
            code, waiting = promote(canaryc)
            check(code == 0 and waiting.get("status") == "waiting-approval" and waiting.get("approval") == "stakeholder sign-off",
                  "without --approve it stays at the gate: %s" % waiting.get("status"))
            with open(os.path.join(PROMOTE_STATE_DIR, "promote-state.json")) as fh:
                state = json.load(fh)
            check(state["stage"] == 2 and not state["done"], "the stage reached is persisted: %s" % state)
            code, approved = promote(canaryc, "--approve")
            check(code == 0 and approved.get("status") == "done", "with --approve the last stage completes: %s" % approved)
            served, errors, total = load.snapshot()
        w = weights(env["sock"])
        check(w.get("py3", (0,))[0] == 256 and w.get("py2", (1,))[0] == 0, "py3 serves everything: %s" % (w,))
        check(errors - restart_errors == 0,
              "client-visible errors during the ramp-up: %d of %d (and %d refused while HAProxy was stopped for the restart)%s"
              % (errors - restart_errors, total, restart_errors, load.kinds()))
        check(not firing_alerts(env["prom"]), "no rollback alert fired")
    finally:
        procs.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def post_hook(env, payload, authorization=None):
    """POST an Alertmanager-shaped payload to the rollback webhook: (status, body)."""
    url = "http://127.0.0.1:%d/hooks/canary-rollback-%s" % (env["hook"], NAME)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def servers(sock):
    """{server: (address, weight, admin_state)} of the plan's backend."""
    out = {}
    for line in haproxy_cmd(sock, "show servers state " + NAME).splitlines():
        parts = line.split()
        if len(parts) > 8 and parts[1] == NAME:
            out[parts[3]] = (parts[4], int(parts[7]), int(parts[6]))
    return out


def forged_calls_are_refused(env):
    """D12: only Alertmanager, with the token, can roll back, and only a service it knows."""
    before = servers(env["sock"])
    smuggled = NAME + "/py3 addr 203.0.113.9 port 80; set server " + NAME
    alert = lambda service: {"status": "firing", "commonLabels": {"service": service, "canary": "rollback"}}
    status, body = post_hook(env, alert(NAME))
    check(status == 403, "forged webhook call without a token: HTTP %s (%s)" % (status, body.strip()[:60]))
    status, body = post_hook(env, alert(NAME), "Bearer " + secrets.token_hex(32))
    check(status >= 400 and "refused" in body, "forged webhook call with a wrong token: HTTP %s, %s" % (status, body.strip()[:80]))
    status, body = post_hook(env, alert(smuggled), "Bearer " + env["token"])
    check(status >= 400 and "refusing unknown service" in body,
          "the right token with a service that smuggles admin commands: HTTP %s, %s" % (status, body.strip()[:80]))
    after = servers(env["sock"])
    check(after == before, "HAProxy's servers are unchanged by the forged calls: %s" % (after,))
    check(all(addr == "127.0.0.1" for addr, _, _ in after.values()), "no server points anywhere but 127.0.0.1")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaryc", default=os.path.join(ROOT, "target", "debug", "canaryc"))
    args = parser.parse_args()
    args.canaryc = os.path.abspath(args.canaryc)
    for tool in ("haproxy", "prometheus", "prometheus-alertmanager", "webhook", "socat"):
        if not shutil.which(tool):
            sys.exit("e2e: %s is not installed (see docs/e2e.md)" % tool)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("e2e run over 7 minutes")))
    signal.alarm(420)
    try:
        scenario_fault(args.canaryc)
        scenario_healthy(args.canaryc)
        scenario_promote(args.canaryc)
    except Exception as error:  # a harness failure is a test failure, reported as one
        check(False, "harness: %s" % error)
    finally:
        signal.alarm(0)
        shutil.rmtree(INSTALL_DIR, ignore_errors=True)
        shutil.rmtree(PROMOTE_STATE_DIR, ignore_errors=True)
    passed = sum(1 for ok, _ in results if ok)
    failed = len(results) - passed
    print("\n%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
