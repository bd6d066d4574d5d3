"""Open-loop scheduling arithmetic of the bench (no timing is measured here)."""

from __future__ import annotations

import pytest

from quorumdb.bench.run import _shares, corrected_start, intended_time


@pytest.mark.parametrize(("rate", "clients"), [(1000.0, 1), (1000.0, 7), (250.0, 32)])
def test_all_clients_together_follow_one_even_schedule(rate: float, clients: int) -> None:
    t0 = 100.0
    per_client = 50
    times = sorted(intended_time(t0, rate, clients, client, n)
                   for client in range(clients) for n in range(per_client))
    # Request k of the whole run is due at t0 + k / rate: no gaps, no bunching.
    for k, due in enumerate(times):
        assert due == pytest.approx(t0 + k / rate)
    # Each client is due every clients / rate seconds.
    assert intended_time(t0, rate, clients, 0, 1) - intended_time(t0, rate, clients, 0, 0) \
        == pytest.approx(clients / rate)


def test_schedule_split_over_processes_is_the_global_one() -> None:
    # Two processes with 3 and 2 clients use global client indices 0..2 and 3..4.
    shares = _shares(5, 2)
    assert shares == [3, 2]
    offsets = [0, 3]
    times = sorted(intended_time(0.0, 100.0, 5, offset + i, n)
                   for offset, share in zip(offsets, shares) for i in range(share)
                   for n in range(10))
    assert times == pytest.approx([k / 100.0 for k in range(50)])


def test_latency_of_an_on_time_request_is_its_service_time() -> None:
    # Free client, sent 0.7 ms late only because of the timer: the lateness is not charged.
    assert corrected_start(intended=10.0, previous_done=9.0, sent=10.0007) == 10.0007


def test_queueing_behind_a_slow_answer_is_charged_from_the_intended_time() -> None:
    # The previous answer came 50 ms after this request was due: latency starts at the
    # intended time (plus only the client's own lateness after becoming free).
    start = corrected_start(intended=10.0, previous_done=10.050, sent=10.0501)
    assert start == pytest.approx(10.0001)
    done = 10.060
    assert done - start == pytest.approx(0.0599)  # not the 9.9 ms service time


def test_a_stalled_server_shows_up_in_every_later_latency() -> None:
    # Rate 1000/s on one client; the server stalls 1 s on the first request, then
    # answers instantly. Closed-loop measurement would record one slow request; the
    # open-loop latencies grow back from ~1 s as the client works off the backlog.
    rate, previous_done, latencies = 1000.0, 0.0, []
    for n in range(5):
        intended = intended_time(0.0, rate, 1, 0, n)
        sent = max(intended, previous_done)
        done = sent + (1.0 if n == 0 else 0.0001)
        latencies.append(done - corrected_start(intended, previous_done, sent))
        previous_done = done
    assert latencies[0] == pytest.approx(1.0)
    assert all(latency > 0.99 for latency in latencies[1:])


def test_shares_split_clients_evenly() -> None:
    assert _shares(32, 3) == [11, 11, 10]
    assert sum(_shares(7, 7)) == 7
