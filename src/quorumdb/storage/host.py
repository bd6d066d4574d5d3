"""The interfaces between the data plane and whatever hosts partitions.

``Engine`` (one node, LMDB with group commit) and ``ReplicatedStore`` (replication
groups across in-process nodes) both implement ``PartitionHost``; their partitions both
implement ``PartitionLike``. The operation handlers and the catalog see only these."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Protocol

from quorumdb.storage.engine import PartitionStats


class PartitionLike(Protocol):
    @property
    def stats(self) -> PartitionStats: ...

    def ready(self) -> bool:
        """Whether the partition can serve requests (a replication group needs a leader)."""
        ...

    def get(self, key: bytes, consistent: bool = True) -> bytes | None:
        """A committed image; ``consistent=False`` allows any full replica to answer."""
        ...

    def scan(self, start: bytes, end: bytes | None, reverse: bool = False,
             consistent: bool = True) -> Iterator[tuple[bytes, bytes]]: ...

    def latest(self, key: bytes) -> tuple[bytes | None, asyncio.Future[None] | None]: ...

    def stage(self, key: bytes, value: bytes | None) -> asyncio.Future[None]:
        """Stages the new image of ``key`` (None deletes it); the future resolves when
        it is durable. Statistics follow from the images replaced when it is applied."""
        ...


class PartitionHost(Protocol):
    def meta_get(self, key: bytes) -> bytes | None: ...

    def meta_items(self, prefix: bytes) -> list[tuple[bytes, bytes]]: ...

    def meta_put(self, key: bytes, value: bytes | None) -> None: ...

    def open_partition(self, name: str) -> PartitionLike: ...

    def drop_partition(self, name: str) -> None: ...

    def has_room(self) -> bool: ...

    async def wait_for_room(self) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...
