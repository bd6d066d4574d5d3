"""The replicated key-value state machine of a simulated full replica.

Theory of operation: log entries carry full new images (``kvmodel.encode_image``), so
``apply`` is an assignment and needs no expression logic (DESIGN.md, "A write, end to
end"). Beside the items the state keeps the applied slot and a *chain digest*: a hash
folded over every applied entry (kind, slot, payload) in slot order. Snapshots carry the
chain, so two replicas with equal checksums applied the same sequence of entries, not
merely ended in the same items — this is the "applied state and log up to the commit
index" comparison of the liveness phase, robust to log truncation.
"""

from __future__ import annotations

import hashlib
import json

from quorumdb.replication import Entry
from quorumdb.sim.kvmodel import Item, decode_image


class KvStateMachine:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.applied_slot = 0
        self.chain = "0" * 32

    def apply(self, entry: Entry) -> tuple[str, Item] | None:
        """Applies one committed entry (slots strictly consecutive); returns the write."""
        assert entry.slot == self.applied_slot + 1, (entry.slot, self.applied_slot)
        self.applied_slot = entry.slot
        folded = hashlib.blake2b(digest_size=16)
        folded.update(self.chain.encode())
        folded.update(f"|{entry.slot}|{entry.kind}|".encode())
        folded.update(entry.payload)
        self.chain = folded.hexdigest()
        if entry.kind != "data":
            return None
        key, item, _ = decode_image(entry.payload)
        if item is None:
            self.items.pop(key, None)
        else:
            self.items[key] = item
        return key, item

    def encode(self) -> bytes:
        document = {
            "slot": self.applied_slot,
            "chain": self.chain,
            "items": [[key, list(item)] for key, item in sorted(self.items.items()) if item],
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> KvStateMachine:
        document = json.loads(data)
        machine = cls()
        machine.applied_slot = int(document["slot"])
        machine.chain = str(document["chain"])
        for key, (version, payload) in document["items"]:
            machine.items[str(key)] = (int(version), str(payload))
        return machine

    def checksum(self) -> str:
        return hashlib.blake2b(self.encode(), digest_size=16).hexdigest()
