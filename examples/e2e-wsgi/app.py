# -*- coding: utf-8 -*-
"""wsgi-shop: a small WSGI service whose one codebase runs on Python 2.7 and Python 3.

It exposes its own request counter and latency histogram, labelled by interpreter, on /metrics
(Prometheus text format, no dependencies), and a health check on /healthz. One route has an
honest py2 -> py3 difference: /report sorts line items whose discount may be None. Python 2
orders None before numbers; Python 3 raises TypeError ('<' not supported between 'NoneType' and
'int'), so py3 answers 500 there, as a real migrated service would.

Run: PORT=8001 CANARY_INTERPRETER=py3 python app.py
"""
import json
import os
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

try:  # Python 3
    from socketserver import ThreadingMixIn
except ImportError:  # Python 2
    from SocketServer import ThreadingMixIn

SERVICE = "wsgi-shop"
VERSION = os.environ.get("CANARY_INTERPRETER", "py%d" % sys.version_info[0])
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_lock = threading.Lock()
_requests = {}  # status -> count
_observations = [0] * (len(BUCKETS) + 1)
_sum = [0.0]

ITEMS = [
    {"sku": "tea", "price": 4, "discount": None},
    {"sku": "cup", "price": 9, "discount": 1},
    {"sku": "pot", "price": 30, "discount": 5},
]


def record(status, seconds):
    with _lock:
        _requests[status] = _requests.get(status, 0) + 1
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                _observations[i] += 1
        _observations[-1] += 1
        _sum[0] += seconds


def metrics():
    lines = [
        "# HELP http_requests_total Requests served, by status.",
        "# TYPE http_requests_total counter",
    ]
    with _lock:
        for status in sorted(_requests):
            lines.append('http_requests_total{service="%s",version="%s",status="%s"} %d'
                         % (SERVICE, VERSION, status, _requests[status]))
        lines.append("# HELP http_request_duration_seconds Request latency.")
        lines.append("# TYPE http_request_duration_seconds histogram")
        for i, bound in enumerate(BUCKETS):
            lines.append('http_request_duration_seconds_bucket{service="%s",version="%s",le="%s"} %d'
                         % (SERVICE, VERSION, bound, _observations[i]))
        lines.append('http_request_duration_seconds_bucket{service="%s",version="%s",le="+Inf"} %d'
                     % (SERVICE, VERSION, _observations[-1]))
        lines.append('http_request_duration_seconds_sum{service="%s",version="%s"} %f' % (SERVICE, VERSION, _sum[0]))
        lines.append('http_request_duration_seconds_count{service="%s",version="%s"} %d'
                     % (SERVICE, VERSION, _observations[-1]))
    return "\n".join(lines) + "\n"


def report():
    # Items without a discount first: fine on py2, TypeError on py3.
    ordered = sorted(ITEMS, key=lambda item: item["discount"])
    return {"items": [item["sku"] for item in ordered], "served_by": VERSION}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/metrics":
        body = metrics().encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
    started = time.time()
    try:
        if path == "/report":
            payload = report()
        elif path == "/":
            payload = {"items": [item["sku"] for item in ITEMS], "served_by": VERSION}
        else:
            status, payload = "404 Not Found", {"error": "no such page"}
            body = json.dumps(payload).encode("utf-8")
            start_response(status, [("Content-Type", "application/json")])
            record(404, time.time() - started)
            return [body]
        status, code = "200 OK", 200
    except Exception as error:  # noqa: BLE001 - a 500 is the point
        status, code = "500 Internal Server Error", 500
        payload = {"error": type(error).__name__, "served_by": VERSION}
        sys.stderr.write("FAIL %.3f %s %s\n" % (time.time(), path, error))
        sys.stderr.flush()
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                            ("X-Served-By", VERSION)])
    record(code, time.time() - started)
    return [body]


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    # Loopback on a host; a container's image sets HOST=0.0.0.0 so the load balancer reaches it.
    host = os.environ.get("HOST", "127.0.0.1")
    server = make_server(host, port, application, server_class=ThreadingServer, handler_class=QuietHandler)
    sys.stderr.write("%s %s listening on %s:%d\n" % (SERVICE, VERSION, host, port))
    sys.stderr.flush()
    server.serve_forever()
