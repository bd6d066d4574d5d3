"""How often this machine takes each CPU away from a running program (``cpu_stalls.c``).

A tail latency can come from quorumdb, the client, the kernel or the hypervisor. This
runs ``build/cpu_stalls`` pinned to every CPU at once: each reads the clock in a tight
loop and counts the gaps between two readings. On this 2-CPU virtual machine, gaps of
0.25-7 ms are time the CPU was not running the program; a request in flight during such
a gap is late by it, whatever the server does.

    .venv/bin/python bench/cpu_stalls.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from ctools import build, pinned


def measure(seconds: float) -> dict[int, dict[str, Any]]:
    """``cpu_stalls``'s report for every CPU this process may use, all probed at once."""
    binary = build("cpu_stalls")
    probes = {cpu: subprocess.Popen([str(binary), repr(seconds)], stdout=subprocess.PIPE,
                                    text=True, preexec_fn=pinned(cpu))
              for cpu in sorted(os.sched_getaffinity(0))}
    return {cpu: json.loads(probe.communicate(timeout=seconds + 30)[0])
            for cpu, probe in probes.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if not 0 < args.seconds <= 3600:
        parser.error("--seconds in (0, 3600]")
    for cpu, r in measure(args.seconds).items():
        print(f"cpu {cpu}: {r['seconds']:.1f} s, gaps over 0.25 ms {r['over_250us']}, "
              f"over 0.5 ms {r['over_500us']}, over 1 ms {r['over_1ms']}, over 2 ms "
              f"{r['over_2ms']}, longest {r['max_ms']:.3f} ms; {r['lost_percent']:.2f}% of "
              "the time in gaps over 50 us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
