#!/usr/bin/env python3
"""Generate a real-like Python 2 codebase dominated by Python files, for the detection benchmark.

Usage: make_python_tree.py DIR [MODULES=2000] [SEED=15]

A Django monolith as a team would have it after ten years: MODULES Python modules in apps and
libraries, with sizes drawn from a log-normal distribution fitted to real py2-era projects
(median about 4 KiB, a long tail to ~200 KiB: generated migrations, big views modules), the lines
such code has (imports, classes, methods, docstrings, comments, `print` statements,
`except X, e:`), plus what surrounds the code: a Dockerfile, requirements, settings, a compose
file, templates, static files and fixtures (about one non-Python file for every two modules).
Deterministic for a given seed, so every run measures the same tree.
"""
import math
import os
import random
import sys

root = sys.argv[1]
modules = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 15)
written = 0
total_bytes = 0


def write(path, text):
    global written, total_bytes
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    written += 1
    total_bytes += len(text)


IMPORTS = [
    "import os", "import sys", "import re", "import json", "import logging", "import datetime",
    "import urllib", "import urllib2", "import hashlib", "import collections", "import itertools",
    "from django.db import models", "from django.conf import settings",
    "from django.http import HttpResponse, Http404", "from django.shortcuts import render",
    "from django.utils.translation import ugettext as _", "from decimal import Decimal",
    "from .utils import slugify", "from ..core import signals", "import cPickle as pickle",
    "from django.core.cache import cache", "import simplejson", "from StringIO import StringIO",
]


def function(i, indent):
    pad = " " * indent
    lines = [f"{pad}def handle_{i}(self, request, *args, **kwargs):"]
    lines.append(f'{pad}    """Handle case {i}: look the record up, check it, render it.')
    lines.append("")
    lines.append(f"{pad}    Returns a response; raises Http404 when the record is gone.")
    lines.append(f'{pad}    """')
    for j in range(rng.randint(3, 25)):
        r = rng.random()
        if r < 0.15:
            lines.append(f"{pad}    # step {j}: keep the legacy behaviour for old clients")
        elif r < 0.25:
            lines.append(f"{pad}    if not value_{j % 5}:")
            lines.append(f"{pad}        return None")
        elif r < 0.32:
            lines.append(f"{pad}    try:")
            lines.append(f"{pad}        record = self.queryset.get(pk=kwargs['pk'])")
            lines.append(f"{pad}    except Record.DoesNotExist, e:")
            lines.append(f"{pad}        logger.warning('missing %s', e)")
        elif r < 0.36:
            lines.append(f"{pad}    print 'debug', value_{j % 5}")
        elif r < 0.45:
            lines.append(f"{pad}    for item in items_{j % 7}.iteritems():")
            lines.append(f"{pad}        total += item[1]")
        else:
            lines.append(f"{pad}    value_{j % 5} = compute_{j}(request.GET.get('q_{j}', u''), {j})")
    lines.append(f"{pad}    return render(request, 'page_{i}.html', {{'value': value_0}})")
    lines.append("")
    return lines


def module(target_bytes, n):
    lines = ["# -*- coding: utf-8 -*-", f'"""Module {n} of the monolith."""', ""]
    lines += rng.sample(IMPORTS, rng.randint(3, 10))
    lines += ["", "logger = logging.getLogger(__name__)", ""]
    size = sum(len(l) + 1 for l in lines)
    i = 0
    while size < target_bytes:
        if rng.random() < 0.3:
            chunk = function(i, 0)
        else:
            chunk = [f"class Model{i}(models.Model):", f'    """Model {i}."""', ""]
            chunk += [f"    field_{k} = models.CharField(max_length={16 + k}, blank=True)" for k in range(rng.randint(2, 12))]
            chunk.append("")
            for m in range(rng.randint(1, 4)):
                chunk += function(i * 10 + m, 4)
        lines += chunk
        size += sum(len(l) + 1 for l in chunk)
        i += 1
    return "\n".join(lines) + "\n"


apps = max(1, modules // 40)
for n in range(modules):
    # Log-normal sizes: median 4 KiB, 1% above ~60 KiB, capped at 200 KiB.
    size = min(200_000, int(math.exp(rng.gauss(math.log(4096), 1.1))))
    app = f"app{n % apps:02d}"
    kind = ["models", "views", "forms", "admin", "tasks", "utils", "signals", "api"][n % 8]
    if n % 10 == 9:
        path = f"{root}/shop/{app}/migrations/{n:04d}_auto.py"
    elif n % 10 == 8:
        path = f"{root}/shop/{app}/tests/test_{kind}_{n}.py"
    else:
        path = f"{root}/shop/{app}/{kind}_{n}.py"
    write(path, module(size, n))
for a in range(apps):
    write(f"{root}/shop/app{a:02d}/__init__.py", "")
    write(f"{root}/shop/app{a:02d}/urls.py", "from django.conf.urls import url\nfrom . import views\n\nurlpatterns = [\n    url(r'^$', views.index),\n]\n")
write(f"{root}/shop/__init__.py", "")
write(f"{root}/shop/wsgi.py", "import os\nfrom django.core.wsgi import get_wsgi_application\n\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\napplication = get_wsgi_application()\n")
write(f"{root}/shop/settings.py", "import os\n\nDEBUG = False\nSESSION_ENGINE = 'django.contrib.sessions.backends.cache'\nCACHES = {'default': {'BACKEND': 'django.core.cache.backends.memcached.MemcachedCache'}}\nINSTALLED_APPS = [\n" + "".join(f"    'shop.app{a:02d}',\n" for a in range(apps)) + "]\n")
write(f"{root}/shop/urls.py", "from django.conf.urls import url\nfrom django.http import HttpResponse\n\nurlpatterns = [\n    url(r'^healthz$', lambda r: HttpResponse('ok')),\n]\n")
write(f"{root}/manage.py", "#!/usr/bin/env python\nimport os, sys\nif __name__ == '__main__':\n    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'shop.settings')\n    from django.core.management import execute_from_command_line\n    execute_from_command_line(sys.argv)\n")
write(f"{root}/requirements.txt", "Django==1.11.29\ngunicorn==19.10.0\npython-memcached==1.59\nMySQL-python==1.2.5\ncelery==3.1.26\n")
write(f"{root}/Dockerfile", "FROM python:2.7-slim\nCOPY . /app\nWORKDIR /app\nRUN pip install -r requirements.txt\nEXPOSE 8000\nCMD gunicorn -b 0.0.0.0:8000 shop.wsgi:application\n")
write(f"{root}/docker-compose.yml", "version: '2'\nservices:\n  web:\n    build: .\n    image: registry/shop:py2\n    ports: ['8000:8000']\n  memcached:\n    image: memcached:1.5\n")
write(f"{root}/.gitignore", "*.pyc\n/media/\n")
# What surrounds the code: templates, static assets, fixtures, docs (listed, not read).
for n in range(modules // 2):
    app = f"app{n % apps:02d}"
    ext, body = [("html", "<div>{{ value }}</div>\n" * 20), ("js", "var x = 1;\n" * 40),
                 ("css", ".a { color: red; }\n" * 30), ("json", '{"model": "x", "pk": 1}\n'),
                 ("rst", "Docs\n====\n" * 10)][n % 5]
    write(f"{root}/shop/{app}/assets/f{n}.{ext}", body)
print(f"{written} files, {total_bytes / 1e6:.1f} MB in {root}")
