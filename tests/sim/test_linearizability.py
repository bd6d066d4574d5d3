"""Hand-made histories for the linearizability checker: each legal one must pass and
each illegal one must be refused (so the checker can fail)."""

from __future__ import annotations

import random

from quorumdb.sim.kvmodel import NO_CONDITION, Condition, Op
from quorumdb.sim.linearizability import Operation, Verdict, check_history, check_register

K = "k"


def put(value: str, condition: Condition = NO_CONDITION) -> Op:
    return Op("put", K, value, condition)


def get() -> Op:
    return Op("get", K)


def op(client: int, operation: Op, call: int, response: int | None, output: object) -> Operation:
    return Operation(client, operation, call, response, output)  # type: ignore[arg-type]


def test_sequential_history_is_linearizable() -> None:
    history = [
        op(1, put("a"), 1, 2, (True, None)),
        op(1, get(), 3, 4, (1, "a")),
        op(1, Op("update", K, "b"), 5, 6, (True, (1, "a"))),
        op(1, get(), 7, 8, (2, "ab")),
        op(1, Op("delete", K), 9, 10, (True, (2, "ab"))),
        op(1, get(), 11, 12, None),
    ]
    assert check_register(history)[0] is Verdict.OK


def test_stale_read_after_acknowledged_write_is_illegal() -> None:
    history = [
        op(1, put("a"), 1, 2, (True, None)),
        op(2, get(), 3, 4, None),  # the put returned before this get began
    ]
    assert check_register(history)[0] is Verdict.ILLEGAL


def test_concurrent_read_may_see_either_value() -> None:
    for seen in (None, (1, "a")):
        history = [
            op(1, put("a"), 1, 4, (True, None)),
            op(2, get(), 2, 3, seen),
        ]
        assert check_register(history)[0] is Verdict.OK


def test_reads_must_not_go_back_in_time() -> None:
    # Both reads overlap the write, but once one read saw the new value, a later read
    # (which starts after that read returned) must not see the old one.
    history = [
        op(1, put("a"), 1, 10, (True, None)),
        op(2, get(), 2, 3, (1, "a")),
        op(3, get(), 4, 5, None),
    ]
    assert check_register(history)[0] is Verdict.ILLEGAL


def test_two_conditional_creates_cannot_both_succeed() -> None:
    absent = Condition("absent")
    history = [
        op(1, put("a", absent), 1, 4, (True, None)),
        op(2, put("b", absent), 2, 5, (True, None)),
    ]
    assert check_register(history)[0] is Verdict.ILLEGAL
    history[1] = op(2, put("b", absent), 2, 5, (False, (1, "a")))
    assert check_register(history)[0] is Verdict.OK


def test_unknown_write_may_or_may_not_have_happened() -> None:
    base = [op(1, put("a"), 1, None, None)]
    assert check_register([*base, op(2, get(), 5, 6, None)])[0] is Verdict.OK
    assert check_register([*base, op(2, get(), 5, 6, (1, "a"))])[0] is Verdict.OK
    # ...but once observed it cannot un-happen.
    observed = [*base, op(2, get(), 5, 6, (1, "a")), op(2, get(), 7, 8, None)]
    assert check_register(observed)[0] is Verdict.ILLEGAL


def test_unknown_write_cannot_take_effect_before_it_was_invoked() -> None:
    history = [
        op(2, get(), 1, 2, (1, "a")),
        op(1, put("a"), 3, None, None),
    ]
    assert check_register(history)[0] is Verdict.ILLEGAL


def test_lost_update_is_illegal() -> None:
    # Two appends both acknowledged, but the final read shows only one of them.
    history = [
        op(1, put(""), 1, 2, (True, None)),
        op(1, Op("update", K, "x"), 3, 6, (True, (1, ""))),
        op(2, Op("update", K, "y"), 4, 7, (True, (1, ""))),
    ]
    assert check_register(history)[0] is Verdict.ILLEGAL


def test_double_applied_update_is_illegal() -> None:
    history = [
        op(1, Op("update", K, "x"), 1, None, None),
        op(2, get(), 5, 6, (2, "xx")),
    ]
    assert check_register(history)[0] is Verdict.ILLEGAL


def test_keys_are_checked_independently() -> None:
    history = [
        Operation(1, Op("put", "a", "1"), 1, 2, (True, None)),
        Operation(2, Op("get", "b"), 3, 4, None),
        Operation(2, Op("get", "a"), 5, 6, None),  # stale on key a only
    ]
    results = check_history(history)
    assert [(result.key, result.verdict) for result in results] == [
        ("a", Verdict.ILLEGAL),
        ("b", Verdict.OK),
    ]


def test_memoisation_keeps_wide_concurrent_histories_cheap() -> None:
    # 14 concurrent unknown updates plus reads: without memoisation this is 14! orders.
    rng = random.Random(7)
    history = [op(i, Op("update", K, "x"), 1 + i, None, None) for i in range(14)]
    history.append(op(99, get(), 100, 101, (5, "xxxxx")))
    verdict, steps = check_register(history)
    assert verdict is Verdict.OK
    assert steps < 200_000, steps
    assert rng.random() >= 0  # the history is fixed; the rng only documents the seed


def test_random_sequential_histories_pass_and_a_corrupted_read_fails() -> None:
    from quorumdb.sim.kvmodel import evaluate

    rng = random.Random(11)
    for _ in range(30):
        state = None
        history: list[Operation] = []
        time = 0
        for _ in range(25):
            kind = rng.choice(["get", "put", "update", "delete"])
            operation = Op(kind, K, rng.choice("ab"))  # type: ignore[arg-type]
            state, output = evaluate(state, operation)
            history.append(op(0, operation, time + 1, time + 2, output))
            time += 2
        assert check_register(history)[0] is Verdict.OK
        history.append(op(0, get(), time + 1, time + 2, (999, "never written")))
        assert check_register(history)[0] is Verdict.ILLEGAL
