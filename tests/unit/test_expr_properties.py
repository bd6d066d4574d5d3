"""Property tests: print a random condition tree, parse it back, get the same tree;
and the parser never fails with anything but ValidationException."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumdb.errors import ValidationException
from quorumdb.expressions import (
    And,
    AttributeExists,
    BeginsWith,
    Between,
    Compare,
    Condition,
    In,
    Not,
    Operand,
    Or,
    Path,
    Size,
    ValueRef,
    parse,
)

names = st.sampled_from(["a", "b", "c1", "_x", "#n", "#m2"])
paths = st.builds(
    lambda head, tail: Path((head, *tail)),
    names,
    st.lists(st.one_of(names, st.integers(0, 20)), max_size=3),
)
values = st.sampled_from([":v", ":w", ":x0"]).map(ValueRef)
operands: st.SearchStrategy[Operand] = st.one_of(paths, values, paths.map(Size))

leaves: st.SearchStrategy[Condition] = st.one_of(
    st.builds(Compare, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), operands, operands),
    st.builds(Between, operands, operands, operands),
    st.builds(
        lambda o, opts: In(o, tuple(opts)), operands, st.lists(operands, min_size=1, max_size=3)
    ),
    st.builds(AttributeExists, paths),
    st.builds(BeginsWith, paths, values),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(And, inner, inner), st.builds(Or, inner, inner), st.builds(Not, inner)
    ),
    max_leaves=8,
)


def show_path(path: Path) -> str:
    text = str(path.elements[0])
    for element in path.elements[1:]:
        text += f"[{element}]" if isinstance(element, int) else f".{element}"
    return text


def show_operand(operand: Operand) -> str:
    if isinstance(operand, Path):
        return show_path(operand)
    if isinstance(operand, ValueRef):
        return operand.name
    assert isinstance(operand, Size)
    return f"size({show_operand(operand.operand)})"


def show(node: Condition) -> str:
    match node:
        case And(left, right):
            return f"({show(left)}) AND ({show(right)})"
        case Or(left, right):
            return f"({show(left)}) OR ({show(right)})"
        case Not(inner):
            return f"NOT ({show(inner)})"
        case Compare(op, left, right):
            return f"{show_operand(left)} {op} {show_operand(right)}"
        case Between(operand, low, high):
            return f"{show_operand(operand)} BETWEEN {show_operand(low)} AND {show_operand(high)}"
        case In(operand, options):
            return f"{show_operand(operand)} IN ({', '.join(map(show_operand, options))})"
        case AttributeExists(path):
            return f"attribute_exists({show_path(path)})"
        case BeginsWith(operand, prefix):
            return f"begins_with({show_operand(operand)}, {show_operand(prefix)})"
    raise AssertionError(node)


@given(conditions)
def test_print_parse_round_trip(tree: Condition) -> None:
    assert parse("ConditionExpression", show(tree)) == tree


@settings(max_examples=300)
@given(
    st.text(alphabet="ab#:()[].,=<>+- 0123456789ANDORNOTINSETsize_", max_size=30),
    st.sampled_from(["ConditionExpression", "UpdateExpression", "ProjectionExpression"]),
)
def test_parser_only_raises_validation_errors(text: str, kind: str) -> None:
    try:
        parse(kind, text)
    except ValidationException as error:
        assert error.message.startswith(f"Invalid {kind}: ")


def test_expression_package_is_pure() -> None:
    """No clocks, OS, randomness or event loops in the expression package (STYLE.md #1)."""
    import ast as python_ast
    import pathlib

    import quorumdb.expressions as package

    forbidden = {"time", "os", "random", "asyncio", "socket", "threading"}
    for source in pathlib.Path(package.__file__).parent.glob("*.py"):
        tree = python_ast.parse(source.read_text())
        for node in python_ast.walk(tree):
            if isinstance(node, python_ast.Import):
                modules = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, python_ast.ImportFrom) and node.module and node.level == 0:
                modules = {node.module.split(".")[0]}
            else:
                continue
            assert not modules & forbidden, (source.name, modules)
