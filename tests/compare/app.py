# -*- coding: utf-8 -*-
"""A small WSGI service run unchanged by Python 2.7 and Python 3, for `canaryc compare`'s tests.

Standard library only. Every response carries a per-request timestamp and id (in the JSON body,
on a line of its own in HTML, and in an X-Request-Id header): noise, different between any two
copies, py2 or py3. Some routes answer differently on py3, for the reasons
shared/reference/py2-py3-runtime.md section 2 lists; nothing in the code checks the version:

  /round?x=2.5       round() is half-to-even and returns an int on py3: 3.0 -> 2
  /divide?a=7&b=2    / is true division on py3: 3 -> 3.5
  /sorted            sorting None with numbers raises TypeError on py3: 200 -> 500
  /token             str(bytes) leaks b'...' into HTML on py3
  /tags              list(dict) is hash order on py2, insertion order on py3
  /str               str(float) keeps 12 significant digits on py2, all of them on py3

And some do not, though they look as if they might:

  /profile           a JSON object whose keys come out in a different order (json.dumps of a
                     dict): the same JSON to any client
  /items/<id>, /     the same on both, apart from the noise
  POST /echo         echoes the JSON body it is sent

Run: python app.py [--hang | --sleep SECONDS]; it prints "listening PORT" once it accepts
connections. --hang makes every request wait forever (a py3 that hangs), --sleep SECONDS makes
every request that much slower (benches/compare.rs).
"""
import base64
import json
import os
import random
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

try:  # Python 3
    from socketserver import ThreadingMixIn
    from urllib.parse import parse_qs
except ImportError:  # Python 2
    from SocketServer import ThreadingMixIn
    from urlparse import parse_qs

HANG = "--hang" in sys.argv
SLEEP = float(sys.argv[sys.argv.index("--sleep") + 1]) if "--sleep" in sys.argv else 0.0
PYTHON = "%d.%d.%d" % sys.version_info[:3]
_random = random.SystemRandom()


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def noise():
    # "%.6f" formats the same on py2 and py3 (str() of a float does not: 12 significant digits
    # on py2), so the timestamp is noise only, never a py3 difference.
    return {"ts": "%.6f" % time.time(), "id": "%016x" % _random.getrandbits(64)}


def as_json(start_response, value, status="200 OK"):
    value.update(noise())
    value["python"] = PYTHON
    body = json.dumps(value).encode("utf-8")
    start_response(status, [
        ("Content-Type", "application/json"),
        ("X-Request-Id", value["id"]),
        ("Content-Length", str(len(body))),
    ])
    return [body]


def as_text(start_response, text, content_type="text/plain; charset=utf-8"):
    body = text.encode("utf-8")
    start_response("200 OK", [
        ("Content-Type", content_type),
        ("X-Request-Id", noise()["id"]),
        ("Content-Length", str(len(body))),
    ])
    return [body]


def application(environ, start_response):
    if HANG:
        threading.Event().wait()
    if SLEEP:
        time.sleep(SLEEP)
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    arg = lambda name, default: query.get(name, [default])[0]
    method = environ.get("REQUEST_METHOD", "GET")

    if path == "/round":
        return as_json(start_response, {"value": round(float(arg("x", "2.5")))})
    if path == "/divide":
        return as_json(start_response, {"result": int(arg("a", "7")) / int(arg("b", "2"))})
    if path == "/sorted":
        return as_json(start_response, {"sorted": sorted([3, None, "a", 1])})
    if path == "/token":
        token = base64.b64encode(b"canary")
        page = "<html>\n<p>served at %s</p>\n<p>token: %s</p>\n</html>\n" % (noise()["ts"], token)
        return as_text(start_response, page, "text/html; charset=utf-8")
    if path == "/tags":
        tags = {}
        for name in ("zeta", "alpha", "mid", "beta", "omega"):
            tags[name] = True
        return as_json(start_response, {"tags": list(tags)})
    if path == "/str":
        return as_text(start_response, "served at %s\ntotal %s\n" % (noise()["ts"], str(1234567.891011)))
    if path == "/profile":
        profile = {}
        for name in ("zeta", "alpha", "mid", "beta", "omega"):
            profile[name] = len(name)
        return as_json(start_response, {"profile": profile})
    if path.startswith("/items/"):
        if method == "DELETE":
            return as_json(start_response, {"deleted": path[len("/items/"):]})
        return as_json(start_response, {"item": path[len("/items/"):], "price": 7})
    if path == "/echo" and method == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        sent = json.loads(environ["wsgi.input"].read(size).decode("utf-8"))
        return as_json(start_response, {"echo": sent})
    if path == "/":
        return as_text(start_response, "<html>\n<p>served at %s</p>\n<p>shop</p>\n</html>\n" % noise()["ts"],
                       "text/html; charset=utf-8")
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found\n"]


def main():
    server = make_server("127.0.0.1", int(os.environ.get("PORT", "0")), application,
                         server_class=Server, handler_class=QuietHandler)
    sys.stdout.write("listening %d\n" % server.server_port)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
