"""apply_update: SET/REMOVE/ADD/DELETE semantics and runtime errors; projection."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.errors import ValidationException
from quorumdb.expressions import Path, apply_update, prepare, project

KEY = {"pk": {"S": "k"}}


def run(
    text: str, item: dict[str, Any] | None, **values: Any
) -> tuple[dict[str, Any], tuple[Path, ...]]:
    prepared = prepare(update=text, values={f":{k}": v for k, v in values.items()} or None)
    assert prepared.update is not None
    return apply_update(prepared.update, item, KEY)


def fails(text: str, item: dict[str, Any] | None, **values: Any) -> str:
    with pytest.raises(ValidationException) as caught:
        run(text, item, **values)
    return caught.value.message


def test_set_on_missing_item_starts_from_key() -> None:
    new, paths = run("SET a = :v", None, v={"S": "x"})
    assert new == {"pk": {"S": "k"}, "a": {"S": "x"}}
    assert paths == (Path(("a",)),)


def test_operands_read_the_old_item() -> None:
    new, _ = run("SET a = b, b = a", {**KEY, "a": {"N": "1"}, "b": {"N": "2"}})
    assert new["a"] == {"N": "2"} and new["b"] == {"N": "1"}


def test_arithmetic_is_exact() -> None:
    item = {**KEY, "n": {"N": "99999999999999999999999999999999999999"}}
    new, _ = run("SET n = n - :one", item, one={"N": "1"})
    assert new["n"] == {"N": "99999999999999999999999999999999999998"}
    new, _ = run("SET c = if_not_exists(c, :zero) + :one", item, zero={"N": "0"}, one={"N": "1"})
    assert new["c"] == {"N": "1"}


def test_list_operations() -> None:
    item: dict[str, Any] = {**KEY, "l": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}, {"N": "3"}]}}
    new, paths = run("SET l[10] = :x", item, x={"S": "x"})
    assert new["l"]["L"][-1] == {"S": "x"} and paths == (Path(("l", 4)),)
    new, _ = run("REMOVE l[1], l[2]", item)
    assert new["l"] == {"L": [{"N": "0"}, {"N": "3"}]}
    new, _ = run("SET l = list_append(:front, l)", item, front={"L": [{"S": "f"}]})
    assert new["l"]["L"][0] == {"S": "f"} and len(new["l"]["L"]) == 5
    assert item["l"]["L"][0] == {"N": "0"}  # input not mutated


def test_nested_set_and_remove() -> None:
    item = {**KEY, "m": {"M": {"a": {"N": "1"}}}}
    new, _ = run("SET m.b = :v REMOVE m.a", item, v={"S": "x"})
    assert new["m"] == {"M": {"b": {"S": "x"}}}
    assert fails("SET nope.b = :v", item, v={"S": "x"}) == (
        "The document path provided in the update expression is invalid for update"
    )


def test_add_and_delete() -> None:
    item = {**KEY, "n": {"N": "1.5"}, "ss": {"SS": ["a", "b"]}}
    new, _ = run("ADD n :n, ss :s, fresh :n", item, n={"N": "2"}, s={"SS": ["b", "c"]})
    assert new["n"] == {"N": "3.5"}
    assert sorted(new["ss"]["SS"]) == ["a", "b", "c"]
    assert new["fresh"] == {"N": "2"}
    new, _ = run("DELETE ss :s", item, s={"SS": ["a", "b"]})
    assert "ss" not in new
    assert fails("ADD ss :n", item, n={"N": "1"}) == (
        "An operand in the update expression has an incorrect data type"
    )


def test_runtime_errors() -> None:
    assert fails("SET a = b + :one", dict(KEY), one={"N": "1"}) == (
        "The provided expression refers to an attribute that does not exist in the item"
    )
    assert fails("SET a = b + :one", {**KEY, "b": {"S": "x"}}, one={"N": "1"}) == (
        "An operand in the update expression has an incorrect data type"
    )
    assert fails("SET pk = :v", None, v={"S": "x"}) == (
        "One or more parameter values were invalid: Cannot update attribute pk. "
        "This attribute is part of the key"
    )


def test_projection_nested_and_compacted() -> None:
    item: dict[str, Any] = {
        "a": {"M": {"b": {"N": "1"}, "c": {"N": "2"}}},
        "l": {"L": [{"S": "0"}, {"S": "1"}, {"S": "2"}, {"S": "3"}]},
        "x": {"S": "x"},
    }
    paths = prepare(projection="l[3], l[1], a.c, a.zz, nope, x").projection
    assert paths is not None
    assert project(item, paths) == {
        "l": {"L": [{"S": "1"}, {"S": "3"}]},
        "a": {"M": {"c": {"N": "2"}}},
        "x": {"S": "x"},
    }
    assert project(item, (Path(("a", "zz")),)) == {}


def test_updated_old_and_new_via_projection() -> None:
    item: dict[str, Any] = {**KEY, "a": {"N": "1"}, "r": {"S": "gone"}}
    prepared = prepare(update="SET a = a + :one REMOVE r", values={":one": {"N": "1"}})
    assert prepared.update is not None
    new, paths = apply_update(prepared.update, item, KEY)
    assert project(item, paths) == {"a": {"N": "1"}, "r": {"S": "gone"}}
    assert project(new, paths) == {"a": {"N": "2"}}


# -- the old item is never written (copy on write instead of a deep copy) -----------------

def test_nested_writes_leave_the_old_item_and_shared_values_alone() -> None:
    item: dict[str, Any] = {**KEY, "m": {"M": {"a": {"M": {"x": {"N": "1"}}},
                                               "l": {"L": [{"N": "0"}, {"SS": ["p", "q"]}]}}},
                            "b": {"M": {"x": {"N": "2"}}}}
    snapshot = copy.deepcopy(item)
    new, _ = run("SET m.a.x = :v, m.l[5] = :v, c = b, b.x = :w ADD m.l[1] :s",
                 item, v={"N": "9"}, w={"N": "3"}, s={"SS": ["r"]})
    assert item == snapshot
    assert new["m"]["M"]["a"] == {"M": {"x": {"N": "9"}}}
    assert new["m"]["M"]["l"]["L"] == [{"N": "0"}, {"SS": ["p", "q", "r"]}, {"N": "9"}]
    assert new["c"] == {"M": {"x": {"N": "2"}}} and new["b"] == {"M": {"x": {"N": "3"}}}
    new, _ = run("REMOVE m.l[0], m.a.x", item)
    assert new["m"]["M"] == {"a": {"M": {}}, "l": {"L": [{"SS": ["p", "q"]}]}}
    new, _ = run("DELETE m.l[1] :s", item, s={"SS": ["p", "q"]})
    assert new["m"]["M"]["l"] == {"L": [{"N": "0"}]}
    assert item == snapshot


_SCALARS = st.one_of(st.builds(lambda n: {"N": str(n)}, st.integers(-5, 5)),
                     st.builds(lambda s: {"S": s}, st.text("abc", min_size=1, max_size=3)),
                     st.builds(lambda m: {"SS": sorted(m)},
                               st.sets(st.sampled_from("abcd"), min_size=1)))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
    st.builds(lambda fields: {"M": fields},
              st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3))),
    max_leaves=12)


def _paths(name: str, value: dict[str, Any]) -> list[str]:
    out = [name]
    if "M" in value:
        for field, child in value["M"].items():
            out += _paths(f"{name}.{field}", child)
    if "L" in value:
        for index, child in enumerate(value["L"]):
            out += _paths(f"{name}[{index}]", child)
    return out


@settings(max_examples=300, deadline=None)
@given(attributes=st.dictionaries(st.sampled_from(["x", "y", "z"]), _VALUES, min_size=1),
       data=st.data())
def test_any_update_leaves_the_old_item_as_it_was(attributes: dict[str, Any],
                                                  data: st.DataObject) -> None:
    item = {**KEY, **attributes}
    snapshot = copy.deepcopy(item)
    paths = [p for name, value in attributes.items() for p in _paths(name, value)]
    chosen = data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True))
    clauses = []
    for index, path in enumerate(chosen):
        action = data.draw(st.sampled_from(["SET", "REMOVE", "ADD", "DELETE"]))
        clauses.append(f"{action} {path}" if action == "REMOVE"
                       else f"{action} {path} {'= ' if action == 'SET' else ''}:v{index}")
    values = {f"v{i}": data.draw(_SCALARS) for i in range(len(chosen))
              if not clauses[i].startswith("REMOVE")}
    try:
        new, _ = run(" ".join(clauses), item, **values)
    except ValidationException:
        assert item == snapshot  # overlapping paths, wrong operand types: nothing written
        return
    assert item == snapshot
    private = copy.deepcopy(snapshot)  # the same update on an item nothing else shares
    expected, _ = run(" ".join(clauses), private, **values)
    assert new == expected
