"""``python -m quorumdb.sim --seed N [--swarm] [--duration-ms MS] [--steps N]``

Runs one seed and prints, in this order: the fault plan and the log knobs (first, so a
swarm run says what it drew: fault rates, window/batch/log sizes, checkpoint policy), notes and figures, any violations with the reproduction command, and a
one-line verdict *last*::

    seed=17 swarm=yes ops=812 acked=640 unknown=9 virtual_s=31.2 verdict=PASS digest=ab12...

Exit status 0 on PASS, 1 on any violation. The same arguments reproduce the same run,
digest included, in any process (the simulator never reads a real clock and derives all
randomness from the seed).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from quorumdb.replication import DEFAULT_LIMITS, SIMULATION_LIMITS
from quorumdb.sim.cluster import RunResult, SimConfig, run
from quorumdb.sim.faults import SECOND

MS = 1_000_000


def reproduce_command(seed: int, swarm: bool, extra: list[str] | None = None) -> str:
    parts = ["python", "-m", "quorumdb.sim", "--seed", str(seed)]
    if swarm:
        parts.append("--swarm")
    parts.extend(extra or [])
    return " ".join(parts)


def verdict_line(result: RunResult) -> str:
    return (
        f"seed={result.seed} swarm={'yes' if result.swarm else 'no'} ops={result.operations} "
        f"acked={result.acknowledged_writes} unknown={result.unknown_writes} "
        f"events={result.events} virtual_s={result.virtual_ns / SECOND:.1f} "
        f"verdict={'PASS' if result.passed else 'FAIL'} digest={result.digest}"
    )


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, SimConfig, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m quorumdb.sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--swarm", action="store_true", help="draw the fault rates per seed")
    parser.add_argument("--duration-ms", type=int, default=10_000,
                        help="virtual milliseconds of the safety phase (default 10000)")
    parser.add_argument("--steps", type=int, default=0,
                        help="stop the safety phase after this many events (0: no limit)")
    parser.add_argument("--limits", choices=["simulation", "default"], default="simulation",
                        help="the core's timing configuration (default: the tiny one)")
    parser.add_argument("--quiet", action="store_true", help="print the verdict line only")
    args = parser.parse_args(argv)
    extra: list[str] = []
    if args.duration_ms != 10_000:
        extra += ["--duration-ms", str(args.duration_ms)]
    if args.steps:
        extra += ["--steps", str(args.steps)]
    if args.limits != "simulation":
        extra += ["--limits", args.limits]
    limits = DEFAULT_LIMITS if args.limits == "default" else SIMULATION_LIMITS
    config = SimConfig(seed=args.seed, swarm=args.swarm, limits=limits,
                       safety_ns=args.duration_ms * MS, max_events=args.steps)
    if args.limits == "default":
        scale = DEFAULT_LIMITS.election_timeout_ns // SIMULATION_LIMITS.election_timeout_ns
        workload = config.workload
        config = replace(config, workload=replace(
            workload, attempt_timeout_ns=workload.attempt_timeout_ns * scale // 2,
            operation_deadline_ns=workload.operation_deadline_ns * scale // 2),
            liveness_ns_max=config.liveness_ns_max * 3)
    return args, config, extra


def main(argv: list[str] | None = None) -> int:
    args, config, extra = parse(argv)
    result = run(config)
    if not args.quiet:
        print(f"plan: {result.describe_choices()}", flush=True)
        print("stats: " + " ".join(f"{name}={value}" for name, value in result.counters.items()))
        for note in result.notes:
            print(f"note: {note}")
        if result.leader_crash_to_ack_ns:
            figures = sorted(result.leader_crash_to_ack_ns)
            print(f"leader_crash_to_first_ack_ms: n={len(figures)} "
                  f"median={figures[len(figures) // 2] / MS:.1f} max={figures[-1] / MS:.1f}")
        for violation in result.violations:
            print(f"VIOLATION: {violation}")
    if not result.passed:
        print(f"reproduce with: {reproduce_command(config.seed, config.swarm, extra)}")
    print(verdict_line(result), flush=True)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
