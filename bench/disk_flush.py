"""How long this machine's disk takes to make a small append durable, alone and while a
checkpoint-like writer streams dirty pages back — the floor under durable PutItem.

Every acknowledged durable write waits for one ``fdatasync`` of the WAL (group commit
shares it between the writes of a batch). This measures that sync without quorumdb: a
2 KB append to a preallocated file, then ``fdatasync``, in a loop, for ``--seconds``.
With ``--background-mb-s R`` a thread dirties R MB/s of 4 KB pages at random places in
a 256 MB file and writes them back every 100 ms in ``--chunk-kb`` chunks with
``storage.lmdb_checkpoint.write_back`` (what a checkpoint does for LMDB's pages).

    .venv/bin/python bench/disk_flush.py                      # the sync alone
    .venv/bin/python bench/disk_flush.py --background-mb-s 60 # with checkpoint traffic

Files go to ``--dir`` (default: a temporary directory on the disk holding the current
directory, not /tmp if that is tmpfs) and are removed afterwards. Linux only.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import threading
import time

from quorumdb.storage.lmdb_checkpoint import write_back

PAGE = 4096
DATA_BYTES = 256 << 20
WAL_BYTES = 64 << 20
APPEND = b"x" * 2048
PERIOD_S = 0.1


def background_writer(path: str, mb_per_s: float, chunk: int, stop: threading.Event) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, DATA_BYTES)
        page = os.urandom(PAGE)
        pages = int(mb_per_s * 1e6 * PERIOD_S / PAGE)
        rng = random.Random(1)
        while not stop.is_set():
            began = time.perf_counter()
            for _ in range(pages):
                os.pwrite(fd, page, rng.randrange(DATA_BYTES // PAGE) * PAGE)
            write_back(fd, chunk)
            left = PERIOD_S - (time.perf_counter() - began)
            if left > 0:
                stop.wait(left)
    finally:
        os.close(fd)


def measure(directory: str, seconds: float) -> list[float]:
    fd = os.open(os.path.join(directory, "wal"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"\0" * WAL_BYTES)  # preallocated, like the WAL's tail
        os.fdatasync(fd)
        latencies: list[float] = []
        offset = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end and offset + len(APPEND) <= WAL_BYTES:
            os.pwrite(fd, APPEND, offset)
            offset += len(APPEND)
            began = time.perf_counter()
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - began)
            time.sleep(0.0002)  # about the pace of group commits under load
        return latencies
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--background-mb-s", type=float, default=0.0)
    parser.add_argument("--chunk-kb", type=int, default=1024)
    parser.add_argument("--dir", default=None)
    options = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="disk-flush-", dir=options.dir or os.getcwd())
    stop = threading.Event()
    writer = None
    try:
        if options.background_mb_s > 0:
            writer = threading.Thread(target=background_writer, args=(
                os.path.join(directory, "data"), options.background_mb_s,
                options.chunk_kb * 1024, stop))
            writer.start()
        latencies = sorted(measure(directory, options.seconds))
    finally:
        stop.set()
        if writer is not None:
            writer.join()
        shutil.rmtree(directory, ignore_errors=True)
    n = len(latencies)

    def at(q: float) -> float:
        return latencies[min(n - 1, int(q * n))] * 1e3

    print(f"fdatasync of a 2 KB append, background {options.background_mb_s:g} MB/s "
          f"({options.chunk_kb} KB chunks): n={n} p50 {at(0.5):.3f} ms, p99 {at(0.99):.3f}, "
          f"p99.9 {at(0.999):.3f}, max {latencies[-1] * 1e3:.2f}; "
          f"p99.9/p50 {at(0.999) / at(0.5):.1f}")


if __name__ == "__main__":
    main()
