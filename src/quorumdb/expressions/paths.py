"""Reading and writing document paths inside wire-form items.

Shared by the condition evaluator, the update applier and projection. ``get_path``
never raises: a missing attribute, an index past the end of a list, or a path stepping
into a value of the wrong type all read as absent (None), which is how DynamoDB
conditions treat them.
"""

from __future__ import annotations

from collections.abc import Callable

from .ast import AttributeValue, Item, PathElement

Getter = Callable[[Item | None], AttributeValue | None]


def get_path(item: Item | None, elements: tuple[PathElement, ...]) -> AttributeValue | None:
    if item is None:
        return None
    value = item.get(elements[0])  # type: ignore[arg-type]
    for element in elements[1:]:
        if value is None:
            return None
        value = step(value, element)
    return value


def step(value: AttributeValue, element: PathElement) -> AttributeValue | None:
    """The child ``element`` of a container value, or None."""
    if isinstance(element, int):
        members = value.get("L")
        if members is None or element >= len(members):
            return None
        child: AttributeValue = members[element]
        return child
    fields = value.get("M")
    if fields is None:
        return None
    found: AttributeValue | None = fields.get(element)
    return found


def getter(elements: tuple[PathElement, ...]) -> Getter:
    """A closure reading ``elements``; the one-name case (most paths) skips the loop."""
    if len(elements) == 1:
        name = elements[0]

        def get_top(item: Item | None) -> AttributeValue | None:
            return None if item is None else item.get(name)  # type: ignore[arg-type]

        return get_top

    def get_nested(item: Item | None) -> AttributeValue | None:
        return get_path(item, elements)

    return get_nested
