"""Simulated clients: concurrent conditional puts, updates, deletes and strongly
consistent gets on a few hot keys, recorded as a history for the linearizability checker.

Theory of operation: each client runs one operation at a time (a closed loop, as a real
SDK caller does) and sends it to the node it believes leads. The node answers with

* ``ok`` and the output — the operation took effect (or, for a failed condition, was
  evaluated) at a linearisation point inside the call: the history records the response;
* ``not_leader`` with an optional hint — the node did not propose anything, so the
  attempt certainly had no effect: the client retries the *same* operation at the hint
  (or the next node) after a short backoff, within the operation's deadline;
* ``unknown`` — the node proposed the write but lost leadership before learning its fate.

A client that hears nothing before its attempt timeout records the write as *unknown
outcome* (it may have taken effect or not) and moves on to a new operation; it never
resends a possibly-executed write, because a non-idempotent append executed twice would
be a real (client-caused) anomaly. A get that times out is dropped from the history: a
read with no answer constrains nothing.

History times are a global counter of call and response events, so no two events tie.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from quorumdb.sim.clock import EventHandle, EventLoop
from quorumdb.sim.kvmodel import Condition, Op, OpKind, Output
from quorumdb.sim.linearizability import Operation

MS = 1_000_000

ReplyStatus = Literal["ok", "not_leader", "unknown"]


@dataclass(frozen=True)
class ClientRequest:
    request_id: int
    op: Op

    def describe(self) -> str:
        return f"req#{self.request_id} {self.op.describe()}"


@dataclass(frozen=True)
class ClientReply:
    request_id: int
    status: ReplyStatus
    output: Output | None = None
    leader_hint: str | None = None

    def describe(self) -> str:
        hint = f" hint={self.leader_hint}" if self.leader_hint else ""
        return f"reply#{self.request_id} {self.status} {self.output!r}{hint}"


@dataclass(frozen=True)
class WorkloadConfig:
    clients: int = 4
    keys: int = 3
    think_ns_max: int = 20 * MS
    attempt_timeout_ns: int = 500 * MS
    operation_deadline_ns: int = 3_000 * MS
    retry_backoff_ns: int = 10 * MS
    get_weight: int = 4
    put_weight: int = 3
    update_weight: int = 3
    delete_weight: int = 1


class History:
    """The client history: operations with global-counter call/response times."""

    def __init__(self) -> None:
        self._clock = 0
        self.operations: list[Operation] = []
        self.acknowledged_writes = 0
        self.unknown_writes = 0
        self.first_ack_after_ns: dict[int, int] = {}

    def tick(self) -> int:
        self._clock += 1
        return self._clock

    def add(self, operation: Operation) -> None:
        self.operations.append(operation)
        if operation.op.kind != "get":
            if operation.unknown:
                self.unknown_writes += 1
            else:
                self.acknowledged_writes += 1


Send = Callable[[str, str, ClientRequest], None]
"""send(client address, node address, request)."""


@dataclass
class _Pending:
    op: Op
    call: int
    started_ns: int
    request_id: int = 0
    target: str = ""
    maybe_executed: bool = False
    timer: EventHandle | None = None
    attempts: int = 0
    tried: list[str] = field(default_factory=list)


class Client:
    def __init__(
        self,
        index: int,
        loop: EventLoop,
        rng: random.Random,
        config: WorkloadConfig,
        nodes: list[str],
        history: History,
        send: Send,
        on_finish: Callable[[Client, Op, bool, Output | None], None],
    ) -> None:
        self.index = index
        self.address = f"c{index}"
        self._loop = loop
        self._rng = rng
        self._config = config
        self._nodes = nodes
        self._history = history
        self._send = send
        self._on_finish = on_finish
        self._leader_guess = nodes[rng.randrange(len(nodes))]
        self._next_request = 0
        self._pending: _Pending | None = None
        self._value_counter = 0
        self.running = False
        self.script: list[Op] = []  # when set, ops are taken from here instead of drawn

    # -- operation choice -------------------------------------------------------------------

    def _choose_op(self) -> Op:
        if self.script:
            return self.script.pop(0)
        config = self._config
        rng = self._rng
        key = f"k{rng.randrange(config.keys)}"
        kinds: list[OpKind] = ["get", "put", "update", "delete"]
        weights = [config.get_weight, config.put_weight, config.update_weight,
                   config.delete_weight]
        kind = rng.choices(kinds, weights)[0]
        self._value_counter += 1
        value = f"{self.index}.{self._value_counter};"
        condition = Condition()
        if kind in ("put", "delete", "update"):
            draw = rng.random()
            if draw < 0.25:
                condition = Condition("absent" if kind == "put" else "exists")
            elif draw < 0.5:
                condition = Condition("version", rng.randrange(1, 6))
        return Op(kind, key, value if kind != "delete" else "", condition)

    # -- the closed loop ----------------------------------------------------------------------

    def start(self) -> None:
        self.running = True
        self._schedule_next()

    def stop(self) -> None:
        self.running = False

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def _schedule_next(self) -> None:
        if not self.running:
            return
        think = self._rng.randrange(self._config.think_ns_max + 1)
        self._loop.schedule_after(think, f"{self.address} think", self._begin)

    def _begin(self) -> None:
        if not self.running or self._pending is not None:
            return
        op = self._choose_op()
        self._pending = _Pending(op, self._history.tick(), self._loop.now_ns)
        self._attempt(self._leader_guess)

    def issue(self, op: Op) -> None:
        """Starts ``op`` now (scenario tests); the client must be idle."""
        assert self._pending is None
        self._pending = _Pending(op, self._history.tick(), self._loop.now_ns)
        self._attempt(self._leader_guess)

    def _attempt(self, target: str) -> None:
        pending = self._pending
        assert pending is not None
        self._next_request += 1
        pending.request_id = self.index * 1_000_000 + self._next_request
        pending.target = target
        pending.attempts += 1
        pending.tried.append(target)
        request = ClientRequest(pending.request_id, pending.op)
        self._send(self.address, target, request)
        request_id = pending.request_id
        pending.timer = self._loop.schedule_after(
            self._config.attempt_timeout_ns,
            f"{self.address} timeout req#{request_id}",
            lambda: self._timeout(request_id),
        )

    def _finish(self, response: int | None, output: Output | None) -> None:
        pending = self._pending
        assert pending is not None
        if pending.timer is not None:
            pending.timer.cancel()
        self._pending = None
        if response is None and pending.op.kind == "get":
            pass  # an unanswered read constrains nothing
        elif response is None and not pending.maybe_executed:
            pass  # every attempt was refused before proposing: it never happened
        else:
            self._history.add(
                Operation(self.index, pending.op, pending.call, response, output)
            )
        self._loop.record(f"{self.address} done {pending.op.describe()} -> "
                          f"{'unknown' if response is None else repr(output)}")
        self._on_finish(self, pending.op, response is not None, output)
        self._schedule_next()

    def _timeout(self, request_id: int) -> None:
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return
        # No answer: the request may have been proposed (if it was a write).
        pending.maybe_executed = True
        self._leader_guess = self._other_node(pending.target)
        self._finish(None, None)

    def _other_node(self, current: str) -> str:
        index = self._nodes.index(current) if current in self._nodes else -1
        return self._nodes[(index + 1) % len(self._nodes)]

    def receive(self, source: str, reply: ClientReply) -> None:
        pending = self._pending
        if pending is None or reply.request_id != pending.request_id:
            return  # a late or duplicated reply to an attempt already settled
        match reply.status:
            case "ok":
                self._leader_guess = source
                self._finish(self._history.tick(), reply.output)
            case "unknown":
                pending.maybe_executed = True
                self._finish(None, None)
            case "not_leader":
                if pending.timer is not None:
                    pending.timer.cancel()
                elapsed = self._loop.now_ns - pending.started_ns
                if elapsed >= self._config.operation_deadline_ns:
                    self._finish(None, None)
                    return
                hint = reply.leader_hint
                if hint is None or hint not in self._nodes:
                    hint = self._other_node(source)
                # hint == source: the leader is busy (back-pressure); retry it after backoff.
                self._leader_guess = hint
                self._loop.schedule_after(
                    self._config.retry_backoff_ns,
                    f"{self.address} retry req#{pending.request_id}",
                    lambda: self._retry(pending.request_id, hint),
                )

    def _retry(self, request_id: int, target: str) -> None:
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return
        self._attempt(target)
