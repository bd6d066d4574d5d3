"""What a crash leaves on disk, for recovery tests: the files a killed process left (as
the OS has them), and a power loss simulated page by page: LMDB's file as the last
checkpoint synced it, with an arbitrary subset of the pages written since (meta pages
included) replaced by their newer content, since the kernel writes unsynced pages back in
any order. WAL records are on disk once synced (what an acknowledgement means)."""

from __future__ import annotations

import contextlib
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

from quorumdb.storage import lmdb_checkpoint

LOCKS = {"engine.lock", "lock.mdb", "wal.lock"}
PAGE_BYTES = 4096


def copy_state(live: Path, to: Path) -> None:
    """What a process crash leaves: every file as the OS has it (locks are the dead
    process's and not copied)."""
    to.mkdir()
    for entry in live.iterdir():
        if entry.name in LOCKS:
            continue
        if entry.is_dir():
            shutil.copytree(entry, to / entry.name, ignore=shutil.ignore_patterns(*LOCKS))
        else:
            shutil.copy2(entry, to / entry.name)


def power_loss_image(durable_data: bytes, current: Path, seed: int) -> None:
    """Replaces ``current``'s data.mdb by a mix: each page as synced at the checkpoint or
    as written since, chosen at random; pages past the synced file's end written or not."""
    data = (current / "data.mdb").read_bytes()
    page = PAGE_BYTES
    rng = random.Random(seed)
    out = bytearray()
    for offset in range(0, len(data), page):
        new = data[offset:offset + page]
        if offset < len(durable_data):
            old = durable_data[offset:offset + page]
            out += new if rng.random() < 0.5 else old
        else:
            out += new if rng.random() < 0.5 else bytes(len(new))
    (current / "data.mdb").write_bytes(bytes(out))


@contextlib.contextmanager
def synced_images() -> Iterator[dict[str, bytes]]:
    """While active, every checkpoint written also records LMDB's file as the checkpoint
    just synced it, by directory (pages written since may be in the copy too: a power
    loss may or may not have kept them)."""
    images: dict[str, bytes] = {}
    write_checkpoint = lmdb_checkpoint.write

    def remember(directory: str, checkpoint: lmdb_checkpoint.Checkpoint) -> None:
        write_checkpoint(directory, checkpoint)
        images[directory] = (Path(directory) / "data.mdb").read_bytes()

    lmdb_checkpoint.write = remember  # type: ignore[assignment]
    try:
        yield images
    finally:
        lmdb_checkpoint.write = write_checkpoint  # type: ignore[assignment]
