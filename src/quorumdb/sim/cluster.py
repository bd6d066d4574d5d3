"""A whole replication group in one thread: nodes, network, clients, faults, checks.

Theory of operation: ``Cluster`` wires ``SimNode`` s (the thin driver around the pure
``Replica``), the seeded ``Network`` and the ``Client`` s to one ``EventLoop``. A run has
two phases (TigerBeetle's VOPR):

* **safety** — clients run their closed loops while the *nemesis* crashes and restarts
  nodes (unsynced writes lost, a torn last record, a bit flip on the one flaky disk),
  splits the network (symmetric 2-1, asymmetric one-way, the leader isolated) and heals
  it, and asks the leader to hand over; clocks drift within the core's bound;
* **liveness** — everything is healed (network quiet, crashed nodes restarted) and, within
  a bound of virtual time, a strongly consistent read of every key must succeed and every
  member must converge: same commit slot, same applied-state checksum (items plus a
  chain digest of every entry applied), and persisted log entries up to the commit slot
  equal to the values applied there.

Checks run all along: two replicas applying different values at one slot is reported
the moment it happens (state machine safety); a log replica applying anything asserts.
At the end the client history — including the liveness reads, which is what makes
"every acknowledged write is still readable" part of the same check — goes through the
linearizability checker.

Random streams (``clock.derive_rng``): ``network``, ``nemesis``, ``swarm``,
``swarm/knobs``, ``clock``, ``disk/<id>``, ``election/<id>``, ``workload/<client>``.
A swarm seed draws its fault plan from ``swarm`` and its log sizes and checkpoint policy
from ``swarm/knobs`` (``faults.swarm_knobs``); both are printed first. Nodes, clients and keys are
always iterated in sorted order.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from quorumdb.replication import (
    SIMULATION_LIMITS,
    Entry,
    Limits,
    Membership,
    Message,
    NodeId,
    Role,
    decode_message,
    describe,
    encode_message,
)
from quorumdb.sim.clock import EventLoop, NodeClock, derive_rng
from quorumdb.sim.faults import (
    DEFAULT_PLAN,
    SECOND,
    FaultPlan,
    describe_knobs,
    drift_bound_ppm,
    swarm_knobs,
    swarm_plan,
)
from quorumdb.sim.kvmodel import Op, Output
from quorumdb.sim.linearizability import KeyResult, Verdict, check_history
from quorumdb.sim.network import Network, NetworkFaults
from quorumdb.sim.node import DEFAULT_CHECKPOINT, CheckpointPolicy, Observer, SimNode, address
from quorumdb.sim.workload import Client, ClientReply, ClientRequest, History, WorkloadConfig


@dataclass(frozen=True)
class SimConfig:
    seed: int
    swarm: bool = False
    plan: FaultPlan | None = None  # None: DEFAULT_PLAN, or drawn per seed in swarm mode
    limits: Limits = SIMULATION_LIMITS
    checkpoint: CheckpointPolicy = DEFAULT_CHECKPOINT
    # Swarm mode also draws the size limits of ``limits`` (timing stays) and the checkpoint
    # policy per seed (``faults.swarm_knobs``); False keeps both as given.
    swarm_knobs: bool = True
    voters: int = 3
    spare_nodes: int = 0  # nodes outside the initial membership (log replicas to be)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    safety_ns: int = 10 * SECOND
    liveness_ns_max: int = 20 * SECOND
    max_events: int = 0  # 0: unbounded; otherwise the safety phase stops after this many
    max_down_nodes: int = 1
    # A deliberate driver bug, for the simulator's self-test: "stale-reads" (any replica
    # answers strong reads) or "ack-before-commit" (writes acknowledged when proposed).
    mutation: str = ""
    # Core findings that are not safety violations (a timer busy loop) fail the run unless
    # QUORUMDB_SIM_FINDINGS=note downgrades them to notes (while a known bug is open).
    fail_on_findings: bool = field(
        default_factory=lambda: os.environ.get("QUORUMDB_SIM_FINDINGS", "fail") != "note")


@dataclass
class RunResult:
    seed: int
    swarm: bool
    plan: FaultPlan
    limits: Limits
    checkpoint: CheckpointPolicy
    operations: int
    acknowledged_writes: int
    unknown_writes: int
    violations: list[str]
    key_results: list[KeyResult]
    digest: str
    virtual_ns: int
    events: int
    leader_crash_to_ack_ns: list[int]
    notes: list[str]
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.violations

    def describe_choices(self) -> str:
        """The fault plan and the knobs: what a (swarm) seed drew, for the first line."""
        return f"{self.plan.describe()} {describe_knobs(self.limits, self.checkpoint)}"


class Cluster(Observer):
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.loop = EventLoop()
        seed = config.seed
        if config.plan is not None:
            self.plan = config.plan
        elif config.swarm:
            self.plan = swarm_plan(derive_rng(seed, "swarm"))
        else:
            self.plan = DEFAULT_PLAN
        if config.swarm and config.swarm_knobs:
            self.limits, self.checkpoint = swarm_knobs(derive_rng(seed, "swarm/knobs"),
                                                       config.limits)
        else:
            self.limits, self.checkpoint = config.limits, config.checkpoint
        self.checkpoint.check(self.limits)
        self.network = Network(
            self.loop, derive_rng(seed, "network"), self.plan.network, self._deliver
        )
        self.nemesis_rng = derive_rng(seed, "nemesis")
        self.violations: list[str] = []
        self.counters: dict[str, int] = {}
        self._findings: set[str] = set()
        self.notes: list[str] = []
        self.slot_values: dict[int, Entry] = {}
        self.history = History()
        voters = tuple(NodeId(index) for index in range(1, config.voters + 1))
        self.membership = Membership(voters=voters)
        clock_rng = derive_rng(seed, "clock")
        bound = int(drift_bound_ppm(self.limits) * self.plan.drift_fraction)
        self.nodes: dict[int, SimNode] = {}
        for node_id in range(1, config.voters + config.spare_nodes + 1):
            drift = clock_rng.randint(-bound, bound) if bound else 0
            clock = NodeClock(drift, clock_rng.randrange(10**12))
            self.nodes[node_id] = SimNode(
                node_id,
                self.loop,
                self.limits,
                self.membership,
                clock,
                derive_rng(seed, f"disk/{node_id}"),
                derive_rng(seed, f"election/{node_id}"),
                self.plan.disk,
                self._send_peer,
                self._send_client,
                self,
                self.checkpoint,
            )
        self.clock_rng = clock_rng
        for node in self.nodes.values():
            node.mutation = config.mutation
        node_addresses = [address(node_id) for node_id in range(1, config.voters + 1)]
        self.clients = [
            Client(index, self.loop, derive_rng(seed, f"workload/{index}"), config.workload,
                   node_addresses, self.history, self._send_request, self._client_finished)
            for index in range(config.workload.clients)
        ]
        self.verifier = Client(
            config.workload.clients, self.loop, derive_rng(seed, "verifier"),
            config.workload, node_addresses, self.history, self._send_request,
            self._client_finished,
        )
        self.flaky_node = sorted(self.nodes)[self.nemesis_rng.randrange(config.voters)]
        self.nemesis_on = False
        self.split_active = False
        self.leader_crashed_at_ns: int | None = None
        self.crashed_leader: str | None = None
        self.leader_crash_to_ack_ns: list[int] = []
        self.last_reply_source: dict[str, str] = {}
        self.finish_hooks: list[Callable[[Client, Op, bool, Output | None], None]] = []

    # -- wiring -------------------------------------------------------------------------------

    def _send_peer(self, node: SimNode, message: Message) -> None:
        self.network.send(node.address, address(message.dst), encode_message(message),
                          describe(message))

    def _send_client(self, node: SimNode, client: str, reply: ClientReply) -> None:
        self.network.send(node.address, client, reply, reply.describe(), duplicable=False)

    def _send_request(self, client: str, node: str, request: ClientRequest) -> None:
        self.network.send(client, node, request, request.describe(), duplicable=False)

    def _deliver(self, source: str, destination: str, payload: object) -> None:
        if destination.startswith("n"):
            node = self.nodes[int(destination[1:])]
            if isinstance(payload, bytes):
                node.receive_peer(decode_message(payload))
            else:
                assert isinstance(payload, ClientRequest)
                node.receive_client(source, payload)
            return
        assert isinstance(payload, ClientReply)
        self.last_reply_source[destination] = source
        client_index = int(destination[1:])
        client = self.verifier if client_index == len(self.clients) else self.clients[client_index]
        client.receive(source, payload)

    # -- observer (online checks) -------------------------------------------------------------

    def applied(self, node: SimNode, entry: Entry) -> None:
        first = self.slot_values.setdefault(entry.slot, entry)
        if not first.same_value(entry):
            self.violations.append(
                f"state machine safety: slot {entry.slot} applied as {first} elsewhere "
                f"but as {entry} on {node.address} at t={self.loop.now_ns}"
            )

    def sent(self, node: SimNode, message: Message) -> None:
        pass

    def finding(self, kind: str, text: str) -> None:
        """A core misbehaviour that is not a safety violation but still fails the run."""
        if kind not in self._findings:
            self._findings.add(kind)
            target = self.violations if self.config.fail_on_findings else self.notes
            target.append(f"core finding at t={self.loop.now_ns}: {text}")

    def _client_finished(self, client: Client, op: Op, acknowledged: bool,
                         output: Output | None) -> None:
        if acknowledged and op.kind != "get" and self.leader_crashed_at_ns is not None:
            source = self.last_reply_source.get(client.address)
            if source != self.crashed_leader:
                self.leader_crash_to_ack_ns.append(self.loop.now_ns - self.leader_crashed_at_ns)
                self.leader_crashed_at_ns = None
        for hook in self.finish_hooks:
            hook(client, op, acknowledged, output)

    # -- queries --------------------------------------------------------------------------------

    def leaders(self) -> list[SimNode]:
        return [node for _, node in sorted(self.nodes.items())
                if node.up and node.role() is Role.LEADER]

    def leader(self) -> SimNode | None:
        """The up node that can read consistently (at most one may, by the lease)."""
        serving = [node for _, node in sorted(self.nodes.items()) if node.up
                   and node.replica is not None
                   and node.replica.can_read_consistently(node.local_now_ns())]
        if len(serving) > 1:
            self.violations.append(
                f"two leaders hold a lease at t={self.loop.now_ns}: "
                + ",".join(node.address for node in serving)
            )
        return serving[0] if serving else None

    def up_nodes(self) -> list[SimNode]:
        return [node for _, node in sorted(self.nodes.items()) if node.up]

    # -- nemesis --------------------------------------------------------------------------------

    def _schedule(self, mean_ns: int, label: str, action: Callable[[], None]) -> None:
        if mean_ns <= 0:
            return
        delay = int(self.nemesis_rng.expovariate(1.0) * mean_ns) + 1
        self.loop.schedule_after(delay, label, action)

    def start_nemesis(self) -> None:
        self.nemesis_on = True
        plan = self.plan
        self._schedule(plan.crash_interval_ns_mean, "nemesis crash", self._nemesis_crash)
        self._schedule(plan.split_interval_ns_mean, "nemesis split", self._nemesis_split)
        self._schedule(plan.transfer_interval_ns_mean, "nemesis transfer",
                       self._nemesis_transfer)

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def crash(self, node: SimNode) -> None:
        self.count("crashes")
        if node.role() is Role.LEADER:
            self.count("leader_crashes")
            self.leader_crashed_at_ns = self.loop.now_ns
            self.crashed_leader = node.address
        offset = None
        if self.plan.reset_clock_on_restart:
            offset = self.clock_rng.randrange(10**12)
        node.crash(offset)
        if (node.node_id == self.flaky_node and self.plan.disk.bit_flip_probability
                and self.nemesis_rng.random() < self.plan.disk.bit_flip_probability):
            node.disk.flip_bit(node.disk_rng)
            self.count("bit_flips")
            self.loop.record(f"{node.address} bit flip")

    def restart(self, node: SimNode) -> None:
        if node.up or node.refused_to_start:
            return
        node.start()
        if node.refused_to_start:
            self.count("refused_to_start")
            self.notes.append(f"{node.address} found a corrupt log and refused to start "
                              f"at t={self.loop.now_ns}")

    def _nemesis_crash(self) -> None:
        if not self.nemesis_on:
            return
        down = [node for node in self.nodes.values() if not node.up]
        up = self.up_nodes()
        if len(down) < self.config.max_down_nodes and up:
            node = up[self.nemesis_rng.randrange(len(up))]
            self.crash(node)
            downtime = self.nemesis_rng.randrange(self.plan.downtime_ns_max + 1)
            self.loop.schedule_after(downtime, f"nemesis restart {node.address}",
                                     lambda: self.restart(node))
        self._schedule(self.plan.crash_interval_ns_mean, "nemesis crash", self._nemesis_crash)

    def _nemesis_split(self) -> None:
        if not self.nemesis_on:
            return
        if not self.split_active:
            members = [address(node_id) for node_id in sorted(self.nodes)]
            leaders = self.leaders()
            rng = self.nemesis_rng
            if leaders and rng.random() < 0.5:
                lonely = leaders[-1].address
            else:
                lonely = members[rng.randrange(len(members))]
            others = [member for member in members if member != lonely]
            if rng.random() < self.plan.asymmetric_probability:
                if rng.random() < 0.5:
                    self.network.split([lonely], others, symmetric=False)  # cannot send
                else:
                    self.network.split(others, [lonely], symmetric=False)  # cannot hear
            else:
                self.network.split([lonely], others, symmetric=True)
            self.split_active = True
            self.count("splits")
            duration = rng.randrange(self.plan.split_ns_max + 1)
            self.loop.schedule_after(duration, "nemesis heal", self._nemesis_heal)
        self._schedule(self.plan.split_interval_ns_mean, "nemesis split", self._nemesis_split)

    def _nemesis_heal(self) -> None:
        self.network.heal()
        self.split_active = False

    def _nemesis_transfer(self) -> None:
        if not self.nemesis_on:
            return
        leaders = self.leaders()
        if leaders:
            leader = leaders[-1]
            targets = [node_id for node_id in self.membership.voters
                       if node_id != leader.node_id]
            leader.transfer_leadership(targets[self.nemesis_rng.randrange(len(targets))])
            self.count("transfers")
        self._schedule(self.plan.transfer_interval_ns_mean, "nemesis transfer",
                       self._nemesis_transfer)

    # -- phases ---------------------------------------------------------------------------------

    def boot(self) -> None:
        for node_id in sorted(self.nodes):
            if node_id in self.membership.members:
                self.nodes[node_id].start()

    def run_for(self, duration_ns: int, stop: Callable[[], bool] | None = None,
                max_events: int = 0) -> bool:
        """Runs ``duration_ns`` of virtual time (or until ``stop``, or until the loop has run
        ``max_events`` events in all); True if stopped early."""
        deadline = self.loop.now_ns + duration_ns

        def should_stop() -> bool:
            if max_events and self.loop.events_run >= max_events:
                return True
            return stop is not None and stop()

        self.loop.run_until(deadline, should_stop)
        return self.loop.now_ns < deadline

    def wait_for_leader(self, within_ns: int) -> SimNode | None:
        """Runs until some node can serve consistent reads (or the bound passes)."""
        self.run_for(within_ns, lambda: self.leader() is not None)
        return self.leader()

    def start_clients(self) -> None:
        for client in self.clients:
            client.start()

    def finish(self) -> list[str]:
        """Scenario tests: liveness phase, then the history check; returns violations."""
        self.liveness_phase()
        self.check_history()
        return self.violations

    def safety_phase(self) -> None:
        for client in self.clients:
            client.start()
        self.start_nemesis()
        self.run_for(self.config.safety_ns, max_events=self.config.max_events)

    def heal_everything(self) -> None:
        self.nemesis_on = False
        self.network.heal()
        self.split_active = False
        quiet = self.plan.network
        self.network.faults = NetworkFaults(delay_ns_min=quiet.delay_ns_min,
                                            delay_ns_mean=quiet.delay_ns_mean)
        for node in self.nodes.values():
            if node.node_id in self.current_members():
                self.restart(node)
        self.loop.record("healed")

    def current_members(self) -> tuple[NodeId, ...]:
        statuses = [node.replica.status() for node in self.up_nodes() if node.replica]
        if not statuses:
            return self.membership.members
        latest = max(statuses, key=lambda status: status.commit_slot)
        return latest.membership.members

    def liveness_phase(self) -> None:
        for client in self.clients:
            client.stop()
        self.heal_everything()
        budget_end = self.loop.now_ns + self.config.liveness_ns_max
        self.run_for(budget_end - self.loop.now_ns,
                     lambda: not any(client.busy for client in self.clients))
        if not self.final_reads(budget_end):
            return
        if not self.run_for(max(budget_end - self.loop.now_ns, 0), self.converged):
            self.violations.append(
                f"liveness: members did not converge within "
                f"{self.config.liveness_ns_max / SECOND:g}s after healing: {self.progress()}"
            )
            return
        self.check_convergence()

    def final_reads(self, budget_end_ns: int) -> bool:
        """Reads every key strongly after healing; the reads join the checked history."""
        keys = [f"k{index}" for index in range(self.config.workload.keys)]
        remaining = list(keys)

        def finished(client: Client, op: Op, acknowledged: bool, output: Output | None) -> None:
            if client is not self.verifier:
                return
            if acknowledged and op.key in remaining:
                remaining.remove(op.key)
            if remaining:
                key = remaining[0]
                self.loop.schedule_after(self.config.workload.retry_backoff_ns,
                                         "verifier read", lambda: self.verifier.issue(
                                             Op("get", key)))

        self.finish_hooks.append(finished)
        self.verifier.issue(Op("get", remaining[0]))
        self.run_for(max(budget_end_ns - self.loop.now_ns, 0), lambda: not remaining)
        self.finish_hooks.remove(finished)
        if remaining:
            self.violations.append(
                f"liveness: no strongly consistent read of {remaining} within "
                f"{self.config.liveness_ns_max / SECOND:g}s after healing: {self.progress()}"
            )
            return False
        return True

    def progress(self) -> str:
        parts = []
        for node in self.nodes.values():
            if node.replica is None:
                parts.append(f"{node.address}:down" + ("(refused)" if node.refused_to_start
                                                       else ""))
                continue
            status = node.replica.status()
            parts.append(f"{node.address}:{status.role.value}/b={status.promised}"
                         f"/commit={status.commit_slot}/applied={node.kv.applied_slot}")
        return " ".join(parts)

    def converged(self) -> bool:
        leader = self.leader()
        if leader is None or leader.replica is None:
            return False
        target = leader.replica.status().commit_slot
        for node in self.up_nodes():
            assert node.replica is not None
            status = node.replica.status()
            if node.node_id not in status.membership.members:
                continue
            if status.commit_slot != target:
                return False
            if not node.is_log_replica and node.kv.applied_slot != target:
                return False
        return True

    def check_convergence(self) -> None:
        leader = self.leader()
        assert leader is not None and leader.replica is not None
        members = leader.replica.status().membership
        commit = leader.replica.status().commit_slot
        checksums: dict[str, list[str]] = {}
        for node in self.up_nodes():
            if node.node_id not in members.members:
                continue
            if not node.is_log_replica:
                checksums.setdefault(node.kv.checksum(), []).append(node.address)
            persisted = node._replay(node.disk.peek().payloads)
            for entry in persisted.entries if persisted is not None else ():
                chosen = self.slot_values.get(entry.slot)
                if entry.slot <= commit and chosen is not None and not chosen.same_value(entry):
                    self.violations.append(
                        f"convergence: {node.address} holds {entry} at slot {entry.slot} "
                        f"below commit {commit}, but {chosen} was applied there"
                    )
        if len(checksums) > 1:
            self.violations.append(f"convergence: applied-state checksums differ: {checksums}")
        live_full = sum(len(names) for names in checksums.values())
        if live_full < len(members.voters) // 2 + 1 and live_full < 1:
            self.violations.append("convergence: no full replica to compare")

    def final_counters(self) -> dict[str, int]:
        counters = dict(self.counters)
        for node in self.nodes.values():
            for name, value in (("records_lost", node.disk.records_lost),
                                ("torn_tails", node.disk.tears),
                                ("checkpoints", node.checkpoints),
                                ("snapshots_installed", node.snapshots_installed)):
                counters[name] = counters.get(name, 0) + value
        counters["messages_sent"] = self.network.sent
        counters["messages_dropped"] = self.network.dropped
        counters["messages_duplicated"] = self.network.duplicated
        return dict(sorted(counters.items()))

    def check_history(self) -> list[KeyResult]:
        results = check_history(self.history.operations)
        for result in results:
            if result.verdict is Verdict.ILLEGAL:
                operations = [op for op in self.history.operations if op.op.key == result.key]
                tail = "\n    ".join(op.describe() for op in operations[-12:])
                self.violations.append(
                    f"linearizability: key {result.key} ({result.operations} ops) has no "
                    f"linearization; last operations:\n    {tail}"
                )
            elif result.verdict is Verdict.GAVE_UP:
                self.notes.append(f"linearizability check of {result.key} gave up after "
                                  f"{result.steps} steps (inconclusive)")
        return results


def run(config: SimConfig, hook: Callable[[Cluster], None] | None = None) -> RunResult:
    """One full run: boot, safety phase, liveness phase, checks."""
    cluster = Cluster(config)
    try:
        cluster.boot()
        if hook is not None:
            hook(cluster)
        cluster.safety_phase()
        cluster.liveness_phase()
    except Exception as error:  # a core assertion is a finding: reported, not raised
        cluster.violations.append(
            f"exception at t={cluster.loop.now_ns}: {error!r}\n" + traceback.format_exc()
        )
    key_results = cluster.check_history()
    history = cluster.history
    return RunResult(
        seed=config.seed,
        swarm=config.swarm,
        plan=cluster.plan,
        limits=cluster.limits,
        checkpoint=cluster.checkpoint,
        operations=len(history.operations),
        acknowledged_writes=history.acknowledged_writes,
        unknown_writes=history.unknown_writes,
        violations=cluster.violations,
        key_results=key_results,
        digest=cluster.loop.digest(),
        virtual_ns=cluster.loop.now_ns,
        events=cluster.loop.events_run,
        leader_crash_to_ack_ns=cluster.leader_crash_to_ack_ns,
        notes=cluster.notes,
        counters=cluster.final_counters(),
    )


def with_seed(config: SimConfig, seed: int) -> SimConfig:
    return replace(config, seed=seed)
