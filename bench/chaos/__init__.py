"""`make chaos`: a fault suite that counts (issue 14 item 4, docs/chaos.md).

The real local stack as separate processes on free loopback ports (stack.py), a stream of deliveries
with faults F1-F11 injected on a schedule (drive.py), then the invariants checked against the database,
Temporal and the sandbox's own ledgers (check.py). Entry point: `python -m bench.chaos.run`.
"""
