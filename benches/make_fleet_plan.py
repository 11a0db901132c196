#!/usr/bin/env python3
"""A plan with N services on Kubernetes + Istio, the same fleet as shared/bench/jsonnet/fleet.jsonnet.

Usage: make_fleet_plan.py N > fleet.plan
"""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
print("use std.schedules.standard\n")
print("plan fleet {")
print('  namespace = "fleet"')
print("  python    = 2.7 -> 3.12")
print("  infra     = kubernetes(router: istio)")
print("  start     = 2027-01-11")
print("  schedule  = standard")
for i in range(1, n + 1):
    print(f"  service svc{i:04d} {{")
    print(f"    port      = {8000 + i % 100}")
    print('    health    = "/healthz"')
    print(f"    replicas  = {2 + i % 5}")
    print(f'    image py2 = "registry.internal/svc{i:04d}:2.7-1.{i % 50}"')
    print(f'    image py3 = "registry.internal/svc{i:04d}:3.12-1.{i % 50}"')
    print("  }")
print("}")
