#!/usr/bin/env python3
"""Generate a monorepo-shaped tree of N files for the detection benchmark.

Usage: make_tree.py DIR [N=100000]

The tree looks like a large Python 2 monorepo: 200 services, each with Python packages, templates,
static assets, fixtures and deployment files, plus a node_modules and a virtualenv that detection
must skip (they count toward N, as they would in `find`). About a third of the files are ones a
detector reads (.py, .yaml, Dockerfile, requirements); the rest are only listed.
"""
import os
import sys

root = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
services = 200
per_service = (total - 2_000) // services
written = 0


def write(path, text):
    global written
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    written += 1


for s in range(services):
    base = os.path.join(root, "services", f"svc{s:03d}")
    write(f"{base}/Dockerfile", f"FROM python:2.7-slim\nEXPOSE {8000 + s}\nCMD gunicorn -b :{8000 + s} svc{s}.wsgi:application\n")
    write(f"{base}/requirements.txt", "Django==1.11.29\ngunicorn==19.10.0\npython-memcached==1.59\n")
    write(f"{base}/deploy/deployment.yaml", f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc{s:03d}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry/svc{s:03d}:2.7\n          ports: [{{containerPort: {8000 + s}}}]\n")
    n = 3
    i = 0
    while n < per_service:
        kind = i % 3
        if kind == 0:
            write(f"{base}/svc{s}/mod{i // 30}/m{i}.py", f"import os\n\ndef view_{i}(request):\n    return {i}\n")
        elif kind == 1:
            write(f"{base}/templates/t{i // 30}/page{i}.html", f"<html><body>{i}</body></html>\n")
        else:
            write(f"{base}/static/img{i // 30}/a{i}.svg", f"<svg id='{i}'/>\n")
        n += 1
        i += 1
# Directories a detector must not descend into, but `find` lists.
for i in range(1_000):
    write(os.path.join(root, "node_modules", f"pkg{i // 50}", f"index{i}.js"), "module.exports = 1;\n")
write(os.path.join(root, "venv", "pyvenv.cfg"), "home = /usr/bin\n")
while written < total:
    write(os.path.join(root, "venv", "lib", f"site{written // 100}", f"f{written}.py"), "x = 1\n")
print(f"{written} files in {root}")
