"""Projection: the parts of an item named by a list of document paths.

DynamoDB returns nested structure for nested paths (``a.b`` gives ``{"a": {"M": {"b":
...}}}``), omits parts that are missing, and compacts list elements picked by index into
a list in index order (``a[3], a[1]`` gives ``{"a": {"L": [a1, a3]}}``). Paths that
overlap or conflict are rejected before this runs (``prepare``), so the paths form a
tree; the tree is built once per distinct path tuple (LRU-cached), then each item costs
one walk of that tree.
"""

from __future__ import annotations

from functools import lru_cache

from .ast import AttributeValue, Item, Path, PathElement

# A projection tree: element -> subtree, or None for "the whole value".
Tree = dict[PathElement, "Tree | None"]


@lru_cache(maxsize=1024)
def _tree(paths: tuple[Path, ...]) -> Tree:
    root: Tree = {}
    for path in paths:
        node = root
        for element in path.elements[:-1]:
            child = node.get(element, {})
            if child is None:  # an enclosing path already takes the whole value
                break
            node[element] = child
            node = child
        else:
            node[path.elements[-1]] = None
    return root


def project(item: Item, paths: tuple[Path, ...]) -> Item:
    """The projection of ``item`` on ``paths`` (wire form, missing parts omitted)."""
    out: Item = {}
    for name, subtree in _tree(paths).items():
        if isinstance(name, int) or name not in item:
            continue
        value = _extract(item[name], subtree)
        if value is not None:
            out[name] = value
    return out


def _extract(value: AttributeValue, tree: Tree | None) -> AttributeValue | None:
    if tree is None:
        return value
    if "M" in value:
        fields = value["M"]
        picked = {}
        for key, subtree in tree.items():
            if isinstance(key, str) and key in fields:
                found = _extract(fields[key], subtree)
                if found is not None:
                    picked[key] = found
        return {"M": picked} if picked else None
    if "L" in value:
        members = value["L"]
        chosen = []
        for index in sorted(k for k in tree if isinstance(k, int)):
            if index < len(members):
                found = _extract(members[index], tree[index])
                if found is not None:
                    chosen.append(found)
        return {"L": chosen} if chosen else None
    return None
