"""Parser: grammar, precedence, and DynamoDB's parse-time error messages."""

from __future__ import annotations

import pytest

from quorumdb.errors import ValidationException
from quorumdb.expressions import (
    And,
    AttributeExists,
    BeginsWith,
    Between,
    Compare,
    In,
    Not,
    Or,
    Path,
    Size,
    UpdateExpression,
    ValueRef,
    parse,
)
from quorumdb.expressions.reserved import RESERVED_WORDS, is_reserved

C = "ConditionExpression"
U = "UpdateExpression"
P = "ProjectionExpression"


def error(kind: str, text: str) -> str:
    with pytest.raises(ValidationException) as caught:
        parse(kind, text)
    return caught.value.message


def test_reserved_words_list_is_the_guide_list() -> None:
    assert len(RESERVED_WORDS) == 573
    assert {"ABORT", "STATUS", "ZONE", "FLATTERN", "INNTER", "LOGED"} <= RESERVED_WORDS
    assert is_reserved("status") and is_reserved("Name") and not is_reserved("pk")


def test_precedence_and_binds_tighter_than_or() -> None:
    tree = parse(C, "a = :a OR b = :b AND c = :c")
    assert isinstance(tree, Or)
    assert isinstance(tree.right, And)


def test_not_binds_tighter_than_and() -> None:
    tree = parse(C, "NOT a = :a AND b = :b")
    assert isinstance(tree, And)
    assert isinstance(tree.left, Not)


def test_parentheses_override() -> None:
    tree = parse(C, "(a = :a OR b = :b) AND c = :c")
    assert isinstance(tree, And) and isinstance(tree.left, Or)


def test_keywords_are_case_insensitive() -> None:
    tree = parse(C, "a between :x and :y or not b in (:a, :b)")
    assert isinstance(tree, Or)
    assert isinstance(tree.left, Between) and isinstance(tree.right, Not)
    assert isinstance(tree.right.operand, In)


def test_paths_with_placeholders_maps_and_indexes() -> None:
    tree = parse(C, "#a.b[1][22].#c = :v")
    assert tree == Compare("=", Path(("#a", "b", 1, 22, "#c")), ValueRef(":v"))


def test_functions_and_size_operand() -> None:
    assert parse(C, "attribute_exists(a.b)") == AttributeExists(Path(("a", "b")))
    assert parse(C, "begins_with(a, :p)") == BeginsWith(Path(("a",)), ValueRef(":p"))
    assert parse(C, "size(a) > :n") == Compare(">", Size(Path(("a",))), ValueRef(":n"))


def test_parenthesised_operand() -> None:
    assert parse(C, "(a) = :v") == Compare("=", Path(("a",)), ValueRef(":v"))


def test_cache_returns_same_object() -> None:
    assert parse(C, "x = :cached") is parse(C, "x = :cached")


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        (C, "", "Invalid ConditionExpression: The expression can not be empty;"),
        (C, "a = ", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "= "'),
        (
            C,
            "some-attr = :v",
            'Invalid ConditionExpression: Syntax error; token: "-", near: "some-attr"',
        ),
        (C, "a = :v AND", 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "AND"'),
        (
            C,
            "status = :v",
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status",
        ),
        (C, "foo(a)", "Invalid ConditionExpression: Invalid function name; function: foo"),
        (
            C,
            "size(a)",
            "Invalid ConditionExpression: The function is not allowed to be used this way in an "
            "expression; function: size",
        ),
        (
            C,
            "begins_with(a, :b) = :c",
            "Invalid ConditionExpression: The function is not allowed to be used this way in an "
            "expression; function: begins_with",
        ),
        (
            C,
            "attribute_exists(a, b)",
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
            "operator or function: attribute_exists, number of operands: 2",
        ),
        (
            C,
            "attribute_exists(:a)",
            "Invalid ConditionExpression: Operator or function requires a document path; "
            "operator or function: attribute_exists",
        ),
        (C, "((a = :v))", "Invalid ConditionExpression: The expression has redundant parentheses;"),
        (
            U,
            "SET a = :a SET b = :b",
            'Invalid UpdateExpression: The "SET" section can only be used once in an update expression;',
        ),
        (
            U,
            "SET a = list_append(a)",
            "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
            "operator or function: list_append, number of operands: 1",
        ),
        (
            U,
            "SET a = if_not_exists(:a, :b)",
            "Invalid UpdateExpression: Operator or function requires a document path; "
            "operator or function: if_not_exists",
        ),
        (U, "SET a = foo(b)", "Invalid UpdateExpression: Invalid function name; function: foo"),
        (U, "ADD a b", 'Invalid UpdateExpression: Syntax error; token: "b", near: "a b"'),
        (
            U,
            "REMOVE name",
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name",
        ),
        (P, "a,", 'Invalid ProjectionExpression: Syntax error; token: "<EOF>", near: ","'),
    ],
)
def test_messages(kind: str, text: str, message: str) -> None:
    assert error(kind, text) == message


def test_expression_size_limit() -> None:
    text = "a = :v AND " * 372 + "a = :v"
    assert len(text) > 4096
    assert error(C, text) == (
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; "
        f"expression size: {len(text)}"
    )


def test_in_operand_limit() -> None:
    ok = "a IN (" + ", ".join(f":v{i}" for i in range(100)) + ")"
    assert isinstance(parse(C, ok), In)
    too_many = "a IN (" + ", ".join(f":v{i}" for i in range(101)) + ")"
    assert error(C, too_many).endswith("number of operands: 101")


def test_path_depth_limit() -> None:
    assert isinstance(parse(P, ".".join(["a"] * 32)), tuple)
    assert "nesting levels" in error(P, ".".join(["a"] * 33))


def test_update_sections() -> None:
    tree = parse(
        U,
        "set a = b + :n, c = list_append(if_not_exists(c, :e), :l) remove d[0], e add f :s delete g :s",
    )
    assert isinstance(tree, UpdateExpression)
    assert (
        len(tree.set) == 2
        and len(tree.remove) == 2
        and len(tree.add) == 1
        and len(tree.delete) == 1
    )
    assert [str(p) for p in tree.written] == ["[a]", "[c]", "[d, [0]]", "[e]", "[f]", "[g]"]
