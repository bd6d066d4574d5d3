"""The simulator's own parts: event ordering, drifting clocks, the seeded network, the
faulty disk and the swarm's knobs. Each test can fail on a plausible bug of its part."""

from __future__ import annotations

import random

import pytest

from quorumdb.replication import SIMULATION_LIMITS
from quorumdb.sim.clock import EventLoop, NodeClock, derive_rng
from quorumdb.sim.cluster import Cluster, SimConfig
from quorumdb.sim.disk import DiskFaults, LogStatus, SimDisk, decode_records, encode_record
from quorumdb.sim.faults import swarm_knobs
from quorumdb.sim.network import MS, Network, NetworkFaults
from quorumdb.sim.node import DEFAULT_CHECKPOINT


def test_events_at_one_instant_run_in_scheduling_order() -> None:
    loop = EventLoop()
    order: list[str] = []
    for name in ["c", "a", "b"]:
        loop.schedule_at(5, name, lambda name=name: order.append(name))  # type: ignore[misc]
    loop.schedule_at(1, "first", lambda: order.append("first"))
    loop.run_until(10)
    assert order == ["first", "c", "a", "b"]
    assert loop.now_ns == 10


def test_cancelled_events_do_not_run_and_digest_tracks_events() -> None:
    def run(cancel: bool) -> str:
        loop = EventLoop()
        ran: list[int] = []
        handle = loop.schedule_at(3, "x", lambda: ran.append(1))
        if cancel:
            handle.cancel()
        loop.run_until(5)
        assert ran == ([] if cancel else [1])
        return loop.digest()

    assert run(True) != run(False)
    assert run(True) == run(True)


def test_derived_streams_are_stable_and_independent() -> None:
    assert derive_rng(3, "network").random() == derive_rng(3, "network").random()
    assert derive_rng(3, "network").random() != derive_rng(3, "disk/1").random()
    assert derive_rng(3, "network").random() != derive_rng(4, "network").random()
    # Pinned value: a change in derivation silently changes every recorded seed.
    assert derive_rng(1, "network").randrange(10**9) == derive_rng(1, "network").randrange(10**9)


@pytest.mark.parametrize("drift_ppm", [-50_000, -1, 0, 7, 50_000])
def test_node_clock_is_monotonic_and_timers_never_fire_early(drift_ppm: int) -> None:
    clock = NodeClock(drift_ppm, 123_456_789)
    rng = random.Random(drift_ppm)
    previous = -1
    for virtual in sorted(rng.randrange(10**12) for _ in range(200)):
        local = clock.local_ns(virtual)
        assert local >= previous
        previous = local
        deadline = local + rng.randrange(10**8)
        fire = clock.virtual_ns(deadline)
        assert clock.local_ns(fire) >= deadline
        assert fire == 0 or clock.local_ns(fire - 1) < deadline


def test_node_clock_drift_matches_its_rate() -> None:
    fast = NodeClock(10_000, 0)  # +1%
    assert fast.local_ns(1_000_000_000) == 1_010_000_000


def _network(faults: NetworkFaults, seed: int = 1) -> tuple[EventLoop, Network, list[str]]:
    loop = EventLoop()
    received: list[str] = []
    network = Network(loop, random.Random(seed), faults,
                      lambda source, destination, payload: received.append(str(payload)))
    return loop, network, received


def test_network_split_blocks_only_the_named_directions() -> None:
    loop, network, received = _network(NetworkFaults())
    network.split(["n1"], ["n2", "n3"], symmetric=False)
    network.send("n1", "n2", "lost", "m")
    network.send("n2", "n1", "heard", "m")
    network.send("n2", "n3", "heard too", "m")
    loop.run_until(100 * MS)
    assert sorted(received) == ["heard", "heard too"]
    network.heal()
    network.send("n1", "n2", "after heal", "m")
    loop.run_until(200 * MS)
    assert "after heal" in received


def test_split_starting_mid_flight_loses_the_message() -> None:
    loop, network, received = _network(NetworkFaults(delay_ns_min=10 * MS, delay_ns_mean=10 * MS))
    network.send("n1", "n2", "in flight", "m")
    loop.run_until(5 * MS)
    network.split(["n1"], ["n2"], symmetric=True)
    loop.run_until(50 * MS)
    assert received == []


def test_network_faults_drop_duplicate_and_reorder_deterministically() -> None:
    faults = NetworkFaults(tail_probability=0.3, tail_ns_max=40 * MS, drop_probability=0.2,
                           duplicate_probability=0.2)

    def run() -> tuple[list[str], int, int]:
        loop, network, received = _network(faults, seed=9)
        for index in range(300):
            network.send("n1", "n2", f"{index:03d}", "m")
        loop.run_until(10**9)
        return received, network.dropped, network.duplicated

    received, dropped, duplicated = run()
    assert run() == (received, dropped, duplicated)
    assert 30 < dropped < 100 and 20 < duplicated < 90
    assert len(received) == 300 - dropped + duplicated
    assert received != sorted(received), "the slow tail must reorder some messages"
    _, network, _ = _network(faults)
    network.send("c1", "n1", "x", "m", duplicable=False)


def test_unsynced_records_are_lost_on_crash_and_synced_ones_kept() -> None:
    disk = SimDisk("n1")
    disk.append(b"one")
    disk.sync()
    disk.append(b"two")
    disk.append(b"three")
    disk.crash(random.Random(0), DiskFaults(keep_unsynced_probability=0.0))
    result = disk.recover()
    assert result.status is LogStatus.CLEAN
    assert result.payloads == [b"one"]
    assert disk.records_lost == 2


def test_a_crash_may_keep_a_prefix_of_unsynced_records_and_tear_the_next() -> None:
    outcomes = set()
    for seed in range(40):
        disk = SimDisk("n1")
        disk.append(b"synced")
        disk.sync()
        for index in range(4):
            disk.append(f"unsynced-{index}".encode() * 3)
        disk.crash(random.Random(seed), DiskFaults(keep_unsynced_probability=0.5,
                                                   torn_probability=1.0))
        result = disk.recover()
        assert result.status in (LogStatus.CLEAN, LogStatus.TORN_TAIL)
        assert result.payloads[0] == b"synced"
        # Survivors are a prefix, in order.
        expected = [f"unsynced-{index}".encode() * 3 for index in range(len(result.payloads) - 1)]
        assert result.payloads[1:] == expected
        outcomes.add((len(result.payloads), result.status))
        # After recovery the torn bytes are gone: a second read is clean.
        assert disk.recover().status is LogStatus.CLEAN
    assert (1, LogStatus.TORN_TAIL) in outcomes and len(outcomes) >= 4


def test_every_single_bit_flip_in_a_synced_log_is_detected_never_truncated() -> None:
    image = b"".join(encode_record(payload) for payload in [b"alpha", b"", b"gamma-record"])
    assert decode_records(image).status is LogStatus.CLEAN
    for bit in range(len(image) * 8):
        damaged = bytearray(image)
        damaged[bit // 8] ^= 1 << (bit % 8)
        assert decode_records(bytes(damaged)).status is LogStatus.CORRUPT, bit


def test_every_truncation_of_the_last_record_is_a_torn_tail() -> None:
    image = b"".join(encode_record(payload) for payload in [b"alpha", b"beta-beta"])
    first = len(encode_record(b"alpha"))
    for cut in range(first + 1, len(image)):
        result = decode_records(image[:cut])
        assert result.status is LogStatus.TORN_TAIL, cut
        assert result.payloads == [b"alpha"]
        assert result.valid_size_bytes == first


def test_swarm_knobs_are_valid_varied_and_include_the_extremes() -> None:
    """Every seed's knobs let a leader make progress (it checkpoints before its in-memory
    log refuses proposals); across seeds they reach checkpoint-every-slot, no tail kept,
    a one-entry window and one uncommitted entry; a plain run keeps the defaults."""
    drawn = [swarm_knobs(derive_rng(seed, "swarm/knobs"), SIMULATION_LIMITS)
             for seed in range(400)]
    for limits, checkpoint in drawn:
        checkpoint.check(limits)  # also: Limits and CheckpointPolicy assert their relations
        assert limits.election_timeout_ns == SIMULATION_LIMITS.election_timeout_ns
    assert drawn == [swarm_knobs(derive_rng(seed, "swarm/knobs"), SIMULATION_LIMITS)
                     for seed in range(400)]
    assert any(c.every_slots == 1 and c.keep_tail_slots == 0 for _, c in drawn)
    assert any(c.every_slots <= 3 and c.keep_tail_slots == 0 for _, c in drawn)
    assert any(limits.max_inflight_entries == 1 for limits, _ in drawn)
    assert any(limits.max_uncommitted_entries == 1 for limits, _ in drawn)
    assert len({(limits, c) for limits, c in drawn}) > 100
    plain = Cluster(SimConfig(seed=3))
    assert (plain.limits, plain.checkpoint) == (SIMULATION_LIMITS, DEFAULT_CHECKPOINT)
    swarm = Cluster(SimConfig(seed=3, swarm=True))
    assert (swarm.limits, swarm.checkpoint) == drawn[3]
    pinned = Cluster(SimConfig(seed=3, swarm=True, swarm_knobs=False))
    assert (pinned.limits, pinned.checkpoint) == (SIMULATION_LIMITS, DEFAULT_CHECKPOINT)
