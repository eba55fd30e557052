"""Reading back what an exported page (``export_html``) holds: its embedded widget state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATE_TAG = '<script type="application/vnd.jupyter.widget-state+json">'


def widget_states(page: Path) -> list[dict[str, Any]]:
    """Every widget of the page: ``{"model_name", "state", ...}`` as the manager state has it."""
    text = page.read_text()
    state = json.loads(text.split(STATE_TAG, 1)[1].split("</script>", 1)[0])
    return list(state["state"].values())


def widget_models(page: Path) -> list[str]:
    """The model names in the page's widget state."""
    return [m["model_name"] for m in widget_states(page)]


def widget_state(page: Path, model_name: str) -> dict[str, Any]:
    """The state of the one widget of ``model_name`` in the page."""
    (found,) = [m["state"] for m in widget_states(page) if m["model_name"] == model_name]
    return dict(found)
