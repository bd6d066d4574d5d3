"""Every bound and timing knob of the replication core, in one place (STYLE.md habit 3).

Theory of operation
-------------------
Timing relations the protocol relies on (asserted in ``Limits.__post_init__``):

* ``max_drift_ns < lease_ns``: the leader's lease is ``sent_ns + lease_ns - max_drift_ns``
  on its own clock; an acceptor honours the grant for ``lease_ns`` on *its* clock from the
  moment it acknowledged (which is after the send). With clock rates differing by at most
  ``max_drift_ns`` over a lease, the acceptor's promise outlives the leader's lease.
* ``lease_ns < election_timeout_ns``: a follower's randomised election deadline is at least
  ``election_timeout_ns`` after it last heard the leader, so by then the lease it granted
  has run out and it may promise itself; the old leader has stopped reading first.
* ``heartbeat_interval_ns * 3 <= lease_ns``: two heartbeats may be lost and the lease is
  still renewed before it expires (etcd's default ratio of heartbeat to election is 1:10).

``DEFAULT_LIMITS`` are production values. PAPER-NOTES 6 says a new leader waits out the
old lease, "a couple of seconds"; issue 4 asks for a first write under 2 s after a leader
crash, so the lease is 600 ms and elections start 800-1200 ms after the leader went quiet
(the election deadline is ``election_timeout_ns`` plus a random jitter of up to half of it).
``SIMULATION_LIMITS`` is the tiny configuration (TigerBeetle) that reaches corners quickly:
windows of 4 entries, a log of 16 in memory, short timeouts.
"""

from __future__ import annotations

import msgspec

MS = 1_000_000


class Limits(msgspec.Struct, frozen=True):
    heartbeat_interval_ns: int
    lease_ns: int
    max_drift_ns: int
    election_timeout_ns: int
    # How long a pre-election LeaderCheck poll may take before it is abandoned.
    leader_check_timeout_ns: int
    # Entries sent to one follower and not yet acknowledged (etcd MaxInflightMsgs).
    max_inflight_entries: int
    # Entries in one Accept message (etcd MaxSizePerMsg, counted in entries).
    max_entries_per_accept: int
    # Proposed but not yet committed entries at a leader (etcd MaxUncommittedEntriesSize);
    # proposals beyond it are refused with Outcome "overloaded" (back-pressure).
    max_uncommitted_entries: int
    # Bytes of one entry's payload: DynamoDB's 400 KB item plus key and framing overhead.
    max_payload_bytes: int
    # Entries held in memory beyond the truncation point before proposals are refused:
    # the driver must checkpoint and call compact() (TigerBeetle: a limit on everything).
    max_log_entries_in_memory: int

    def __post_init__(self) -> None:
        assert 0 <= self.max_drift_ns < self.lease_ns, "drift must be below the lease"
        assert self.lease_ns < self.election_timeout_ns, "a granted lease ends before elections"
        assert self.heartbeat_interval_ns * 3 <= self.lease_ns, "renew a lease thrice per term"
        assert self.leader_check_timeout_ns > 0
        assert self.max_inflight_entries >= self.max_entries_per_accept >= 1
        assert self.max_log_entries_in_memory > self.max_uncommitted_entries >= 1
        assert self.max_payload_bytes >= 1


DEFAULT_LIMITS = Limits(
    heartbeat_interval_ns=100 * MS,
    lease_ns=600 * MS,
    max_drift_ns=60 * MS,            # 10% of the lease: NTP-disciplined clocks do far better
    election_timeout_ns=800 * MS,
    leader_check_timeout_ns=100 * MS,  # several intra-region round trips
    max_inflight_entries=256,        # a WAN round trip of writes at ~10k writes/s per group
    max_entries_per_accept=64,       # 64 x 400 KB worst case = 25 MB: bounded message size
    max_uncommitted_entries=1024,
    max_payload_bytes=512 * 1024,    # 400 KB item + key + attribute framing headroom
    max_log_entries_in_memory=65_536,
)

SIMULATION_LIMITS = Limits(
    heartbeat_interval_ns=10 * MS,
    lease_ns=50 * MS,
    max_drift_ns=5 * MS,
    election_timeout_ns=100 * MS,
    leader_check_timeout_ns=20 * MS,
    max_inflight_entries=4,
    max_entries_per_accept=2,
    max_uncommitted_entries=8,
    max_payload_bytes=4096,
    max_log_entries_in_memory=16,
)
