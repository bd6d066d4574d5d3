"""Linearizability checking of a client history (Wing & Gong, with Lowe's memoisation,
as Porcupine implements it), partitioned per key.

A history is a list of operations, each with an invocation time, a response time and an
output. An operation whose outcome the client never learned (a timeout) has no response
time and no output: it may have taken effect at any point after its invocation, or never.
It is modelled as Porcupine and Knossos do: its response is at +infinity (so it can be
linearised after everything else, which is the same as "never happened") and any output
is accepted for it (so wherever it is linearised, only its effect on the state matters).

The search walks an ordered list of call and return events. At a call it tries to
linearise that operation now (the model accepts its output from the current state); at a
return whose operation is not yet linearised it backtracks. Memoisation caches every
``(set of linearised operations, state)`` pair already explored, which turns the
exponential worst case into something proportional to the number of distinct reachable
configurations. Keys are independent registers, so each key's sub-history is checked on
its own (P-compositionality), which keeps the searches small.

Times are integers; the simulator uses a global sequence of call/return events, so no
two events share a time. Nothing here depends on hash order: sets are used only for
membership.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from quorumdb.sim.kvmodel import Item, Op, Output, evaluate


@dataclass(frozen=True)
class Operation:
    client: int
    op: Op
    call: int
    response: int | None  # None: outcome unknown (timed out)
    output: Output | None  # None when the outcome is unknown

    @property
    def unknown(self) -> bool:
        return self.response is None

    def describe(self) -> str:
        end = "?" if self.response is None else str(self.response)
        result = "unknown" if self.response is None else repr(self.output)
        return f"c{self.client} [{self.call},{end}] {self.op.describe()} -> {result}"


class Verdict(Enum):
    OK = "ok"
    ILLEGAL = "illegal"
    GAVE_UP = "gave-up"  # step budget exhausted: neither proven nor refuted


@dataclass(frozen=True)
class KeyResult:
    key: str
    verdict: Verdict
    operations: int
    steps: int


def _step(state: Item, operation: Operation) -> tuple[bool, Item]:
    new_state, output = evaluate(state, operation.op)
    if operation.unknown:
        return True, new_state
    return output == operation.output, new_state


def check_register(
    operations: list[Operation], initial: Item = None, step_budget: int = 2_000_000
) -> tuple[Verdict, int]:
    """Checks one key's history; returns the verdict and the number of search steps."""
    count = len(operations)
    if count == 0:
        return Verdict.OK, 0
    infinity = max(max(op.call for op in operations), 0) + 1 + count
    events: list[tuple[int, int, int]] = []  # (time, is_return, operation index)
    for index, operation in enumerate(operations):
        response = operation.response
        if response is None:
            response = infinity + index
        assert response > operation.call, operation
        events.append((operation.call, 0, index))
        events.append((response, 1, index))
    events.sort()

    # A doubly linked list over nodes 1..2n with sentinels: 0 = head, 2n+1 = tail.
    tail = 2 * count + 1
    next_node = list(range(1, tail + 2))
    previous = [index - 1 for index in range(tail + 1)]
    operation_of = [0] * (tail + 1)
    is_return = [False] * (tail + 1)
    return_node = [0] * (tail + 1)
    call_node_of = [0] * count
    for node, (_, returning, index) in enumerate(events, start=1):
        operation_of[node] = index
        is_return[node] = bool(returning)
        if returning:
            return_node[call_node_of[index]] = node
        else:
            call_node_of[index] = node

    def unlink(node: int) -> None:
        next_node[previous[node]] = next_node[node]
        previous[next_node[node]] = previous[node]

    def relink(node: int) -> None:
        next_node[previous[node]] = node
        previous[next_node[node]] = node

    state: Item = initial
    linearized = 0
    stack: list[tuple[int, Item]] = []
    seen: set[tuple[int, Item]] = set()
    node = next_node[0]
    steps = 0
    while next_node[0] != tail:
        steps += 1
        if steps > step_budget:
            return Verdict.GAVE_UP, steps
        if not is_return[node]:
            index = operation_of[node]
            accepted, new_state = _step(state, operations[index])
            if accepted:
                new_linearized = linearized | (1 << index)
                if (new_linearized, new_state) not in seen:
                    seen.add((new_linearized, new_state))
                    stack.append((node, state))
                    state = new_state
                    linearized = new_linearized
                    unlink(node)
                    unlink(return_node[node])
                    node = next_node[0]
                    continue
            node = next_node[node]
        else:
            if not stack:
                return Verdict.ILLEGAL, steps
            node, state = stack.pop()
            linearized &= ~(1 << operation_of[node])
            relink(return_node[node])
            relink(node)
            node = next_node[node]
    return Verdict.OK, steps


def check_history(operations: list[Operation], step_budget: int = 2_000_000) -> list[KeyResult]:
    """Checks every key's sub-history; keys in sorted order."""
    by_key: dict[str, list[Operation]] = {}
    for operation in operations:
        by_key.setdefault(operation.op.key, []).append(operation)
    results = []
    for key in sorted(by_key):
        verdict, steps = check_register(by_key[key], step_budget=step_budget)
        results.append(KeyResult(key, verdict, len(by_key[key]), steps))
    return results
