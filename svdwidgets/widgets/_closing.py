"""Closing a composite widget and every widget it created (issue #14: nothing left registered)."""

from __future__ import annotations

from ipywidgets import Widget

__all__ = ["descendants"]


def descendants(root: Widget) -> list[Widget]:
    """Every widget reachable from ``root`` (``root`` excluded), children before parents.

    Follows synced traits (``children``, ``layout``, ``style``, widget references) and plain
    attributes holding widgets (views a composite keeps off its tree, such as a Selection).
    """
    seen: set[int] = {id(root)}
    order: list[Widget] = []

    def visit(w: Widget) -> None:
        found: list[Widget] = []
        for name in w.keys:
            value = w._trait_values.get(name)
            found += _widgets_in(value)
        for value in list(vars(w).values()):
            found += _widgets_in(value)
        for child in found:
            if id(child) not in seen:
                seen.add(id(child))
                visit(child)
                order.append(child)

    visit(root)
    return order


def _widgets_in(value: object) -> list[Widget]:
    if isinstance(value, Widget):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, Widget)]
    return []
