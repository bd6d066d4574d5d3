"""The key-value semantics shared by the simulated state machine and the checker's model.

One key holds an *item*: ``(version, payload)`` or ``None`` when absent. Operations are
DynamoDB's single-item writes reduced to their essence:

* ``put``    — PutItem with an optional condition; the new image is ``(version + 1, value)``;
* ``update`` — UpdateItem appending ``value`` to the payload (creating the item if absent,
  as UpdateItem does); an append makes lost or doubled updates visible to the checker;
* ``delete`` — DeleteItem with an optional condition;
* ``get``    — a strongly consistent GetItem.

Writes return ``(succeeded, old_item)`` (ReturnValues=ALL_OLD, and the old item on a
failed condition as ReturnValuesOnConditionCheckFailure does); gets return the item.

``evaluate`` is the single definition of these semantics: the leader calls it against its
latest state (applied state plus its in-flight proposals) to compute the *full new image*
it proposes, so applying a log entry is a plain assignment with no expression logic, and
the linearizability checker calls the very same function as its sequential model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

Item = tuple[int, str] | None
OpKind = Literal["get", "put", "update", "delete"]
ConditionKind = Literal["none", "absent", "exists", "version"]


@dataclass(frozen=True)
class Condition:
    kind: ConditionKind = "none"
    version: int = 0

    def holds(self, item: Item) -> bool:
        match self.kind:
            case "none":
                return True
            case "absent":
                return item is None
            case "exists":
                return item is not None
            case "version":
                return item is not None and item[0] == self.version

    def describe(self) -> str:
        return self.kind if self.kind != "version" else f"v={self.version}"


NO_CONDITION = Condition()


@dataclass(frozen=True)
class Op:
    kind: OpKind
    key: str
    value: str = ""
    condition: Condition = NO_CONDITION

    def describe(self) -> str:
        condition = "" if self.condition.kind == "none" else f" if {self.condition.describe()}"
        value = f" {self.value!r}" if self.kind in ("put", "update") else ""
        return f"{self.kind}({self.key}{value}{condition})"


WriteOutput = tuple[bool, Item]
Output = Item | WriteOutput


def evaluate(item: Item, op: Op) -> tuple[Item, Output]:
    """The sequential specification: ``(new item, output)`` of ``op`` applied to ``item``."""
    if op.kind == "get":
        return item, item
    if not op.condition.holds(item):
        return item, (False, item)
    version = item[0] if item is not None else 0
    new_item: Item
    match op.kind:
        case "put":
            new_item = (version + 1, op.value)
        case "update":
            new_item = (version + 1, (item[1] if item is not None else "") + op.value)
        case "delete":
            new_item = None
    return new_item, (True, item)


# -- log entry payloads (full images; apply is an assignment) ----------------------------


def encode_image(key: str, item: Item, request_id: str) -> bytes:
    """A log entry's command: the key's full new image, tagged with the request it serves."""
    return json.dumps(
        {"k": key, "i": list(item) if item is not None else None, "r": request_id},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def decode_image(command: bytes) -> tuple[str, Item, str]:
    document = json.loads(command)
    raw = document["i"]
    item: Item = (int(raw[0]), str(raw[1])) if raw is not None else None
    return str(document["k"]), item, str(document["r"])
