"""The ``quorumdb`` command line: ``serve`` (one process, every role) and ``bench``."""

from __future__ import annotations

import argparse
import logging
import sys


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run quorumdb in one process (like a local DynamoDB)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data-dir", default="./data",
                       help="where data lives (default ./data); ignored with --in-memory")
    serve.add_argument("--wal-dir", default=None,
                       help="the write-ahead log in this directory instead of DATA_DIR/wal "
                            "(a disk of its own: its syncs then do not wait for the data "
                            "files' write-back); the data directory remembers it "
                            "(--replicas 1 only)")
    serve.add_argument("--in-memory", action="store_true",
                       help="keep data in memory only (lost when the process ends)")
    serve.add_argument("--region", default="us-east-1")
    serve.add_argument("--credentials", default=None,
                       help="JSON file of access key id -> secret key; when given, every "
                            "request's SigV4 signature is verified against it")
    serve.add_argument("--table-transition-ms", type=int, default=0,
                       help="how long tables stay CREATING/UPDATING (default 0)")
    serve.add_argument("--replicas", type=int, choices=(1, 3), default=1,
                       help="replicas per partition: 1 (light default) or 3 (a Multi-Paxos "
                            "group per partition across three in-process nodes/AZs)")
    serve.add_argument("--stale-reads", action="store_true",
                       help="with --replicas 3: serve eventually consistent reads from any "
                            "replica (they may lag by up to a heartbeat, as on AWS); by "
                            "default they are served by the leader")
    serve.add_argument("--workers", type=int, default=0,
                       help="extra front-end processes on the same port (SO_REUSEPORT) that "
                            "answer reads from the shared LMDB and pass every other request "
                            "to the primary; uses more cores (--replicas 1 only)")
    serve.add_argument("--log-level", default="WARNING")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quorumdb")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    from quorumdb.bench.run import add_arguments

    add_arguments(sub.add_parser("bench", help="load any DynamoDB-compatible endpoint"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "WARNING").upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        from quorumdb.api.server import ServeOptions, run

        if args.wal_dir is not None and (args.in_memory or args.replicas != 1):
            parser.error("--wal-dir needs a data directory and --replicas 1")
        return run(ServeOptions(
            host=args.host, port=args.port,
            data_dir=None if args.in_memory else args.data_dir, wal_dir=args.wal_dir,
            region=args.region, credentials_path=args.credentials,
            transition_delay_s=args.table_transition_ms / 1000.0,
            replicas=args.replicas, eventual_reads_anywhere=args.stale_reads,
            workers=args.workers, log_level=args.log_level.upper(),
        ))
    if args.command == "bench":
        from quorumdb.bench.run import main as bench_main

        return bench_main(args)
    return 2
