"""DynamoDB's expressions: parse once (cached by text), evaluate by pure functions.

Component index
---------------
- ``tokenizer``   lexical layer shared by all grammars
- ``parser``      recursive descent for condition / update / projection grammars;
                  ``parse(kind, text)`` is LRU-cached (4096 entries) by (kind, text)
- ``ast``         frozen dataclasses for raw (placeholder) and resolved trees
- ``reserved``    DynamoDB's 573 reserved words
- ``resolve``     placeholder substitution and the checks that need names/values
- ``prepare``     ``prepare(...) -> Prepared``: a request's expressions, validated together
- ``evaluate``    condition trees compiled to closures; ``evaluate_condition``
- ``keycondition`` Query key conditions as data (``KeyCondition``) plus a matcher
- ``update``      ``apply_update`` (SET/REMOVE/ADD/DELETE)
- ``projection``  ``project`` (nested paths, compacted list indexes)
- ``legacy``      Expected, Query/ScanFilter, KeyConditions, AttributeUpdates,
                  AttributesToGet converted to the same trees; ``check_parameter_mix``
- ``messages``    DynamoDB's message builders and the limits they cite

Invariants: evaluators only see resolved trees (no placeholder lookups per item);
nothing here does I/O or reads clocks; inputs are never mutated.

Usage::

    p = prepare(condition="attribute_not_exists(pk)")                  # PutItem
    if p.condition and not evaluate_condition(p.condition, old_item): raise ConditionalCheckFailedException()
    u = prepare(update="SET #c = #c + :one", condition="#c < :max", names=..., values=...)
    new_item, paths = apply_update(u.update, old_item, key)           # UpdateItem
    updated_new = project(new_item, paths)                             # ReturnValues UPDATED_NEW
    q = prepare(key_condition="pk = :p AND begins_with(sk, :s)", filter="size(tags) > :n",
                projection="a, b.c[1]", names=..., values=..., key_schema=("pk", "sk"))
    q.key_condition.hash_value, q.key_condition.sort   # -> partition value, SortKeyCondition
    rows = [project(i, q.projection) for i in candidates if evaluate_condition(q.filter, i)]
    legacy = prepare_legacy(expected={"a": {"Exists": False}}, attribute_updates=..., ...)

Message provenance. Checked against public sources (DynamoDB Local's decompiled message
enum, dynalite's validation source, AWS docs/release notes): reserved keyword, syntax
error shape, empty/oversized expression, undefined/unused placeholders, invalid map
keys, names/values "can only be specified", redundant parentheses, invalid function
name, misused function, operand count/type, document path required, distinct operands,
attribute_type names, BETWEEN bounds, section used twice, path overlap/conflict, ADD/
DELETE operand types, key-condition messages, legacy Expected/AttributeUpdates/
ComparisonOperator messages, parameter mix. Best guesses (unverified): the exact
``near`` text of syntax errors, "too many nesting levels; nesting levels: N", the IN
operand-count suffix, "not allowed in a condition/update expression" for functions of
the other grammar, which schema element "Query condition missed key schema element"
names for non-key attributes, and "Attempted conditional constraint is not an
indexable operation". Semantics unverified: size() of a string counts characters;
``a <> :v`` is true when ``a`` is absent; REMOVE under a missing parent is a no-op.
"""

from __future__ import annotations

from .ast import (
    AddAction,
    And,
    Arithmetic,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    BeginsWith,
    Between,
    Compare,
    Condition,
    Contains,
    DeleteAction,
    IfNotExists,
    In,
    KeyCondition,
    ListAppend,
    Literal,
    Not,
    Operand,
    Or,
    Path,
    SetAction,
    Size,
    SortKeyCondition,
    UpdateExpression,
    ValueRef,
)
from .evaluate import PreparedCondition, compile_condition, evaluate_condition, prepare_condition
from .keycondition import key_condition_matches, sort_key_matches
from .legacy import (
    attribute_updates_to_update,
    attributes_to_get_to_projection,
    check_parameter_mix,
    conditions_to_condition,
    expected_to_condition,
    key_conditions_to_key_condition,
    prepare_legacy,
)
from .parser import parse
from .prepare import Prepared, prepare
from .projection import project
from .reserved import RESERVED_WORDS, is_reserved
from .update import apply_update, check_key_not_updated

__all__ = [
    "RESERVED_WORDS",
    "AddAction",
    "And",
    "Arithmetic",
    "AttributeExists",
    "AttributeNotExists",
    "AttributeType",
    "BeginsWith",
    "Between",
    "Compare",
    "Condition",
    "Contains",
    "DeleteAction",
    "IfNotExists",
    "In",
    "KeyCondition",
    "ListAppend",
    "Literal",
    "Not",
    "Operand",
    "Or",
    "Path",
    "Prepared",
    "PreparedCondition",
    "SetAction",
    "Size",
    "SortKeyCondition",
    "UpdateExpression",
    "ValueRef",
    "apply_update",
    "attribute_updates_to_update",
    "attributes_to_get_to_projection",
    "check_key_not_updated",
    "check_parameter_mix",
    "compile_condition",
    "conditions_to_condition",
    "evaluate_condition",
    "expected_to_condition",
    "is_reserved",
    "key_condition_matches",
    "key_conditions_to_key_condition",
    "parse",
    "prepare",
    "prepare_condition",
    "prepare_legacy",
    "project",
    "sort_key_matches",
]
