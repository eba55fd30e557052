"""Standalone HTML for papers: widget state and our renderer inlined, no kernel, no network.

The standard ``ipywidgets.embed`` pages load require.js and the widget manager from a CDN and
then look for custom modules on npm; this page instead inlines ``svdwidgets-embed.js`` (built
from ``labextension/embed/`` with the package: ``@jupyter-widgets/html-manager`` and our views),
so it renders offline from a single file. Front-end interactions keep working (a click selects
a frequency); anything computed by the kernel (``selected_indices``) is frozen as exported.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from pathlib import Path

from ipywidgets import DOMWidget
from ipywidgets.embed import dependency_state, embed_data

from svdwidgets.errors import SVDWidgetsError

__all__ = ["EMBED_BUNDLE", "export_html"]

EMBED_BUNDLE = Path(__file__).with_name("embed") / "svdwidgets-embed.js"
"""The offline renderer (built by ``pip install`` / ``jlpm build``, shipped in the wheel)."""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ margin: 16px; }}</style>
<script>{bundle}</script>
</head>
<body>
<script type="application/vnd.jupyter.widget-state+json">
{state}
</script>
{views}
</body>
</html>
"""


def _script_safe(text: str) -> str:
    """Inline ``<script>`` content must not close the tag or open an HTML comment."""
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def export_html(
    path: str | Path, widgets: DOMWidget | Iterable[DOMWidget], *, title: str = "svdwidgets"
) -> Path:
    """Write ``widgets`` (one or several, e.g. a ``FrequencyMap`` or a ``VBox``) to ``path``.

    The file is self-contained (about 1.4 MB, most of it the renderer) and renders in a browser
    without a kernel or a network connection. Returns the path written.
    """
    views = [widgets] if isinstance(widgets, DOMWidget) else list(widgets)
    bad = [type(w).__name__ for w in views if not isinstance(w, DOMWidget)]
    if not views or bad:
        raise SVDWidgetsError(
            f"export_html needs one or more displayable widgets, got {bad or 'nothing'}"
        )
    if not EMBED_BUNDLE.exists():
        raise SVDWidgetsError(
            f"the offline renderer {EMBED_BUNDLE} is missing: reinstall svdwidgets "
            "(pip install -e .) or run `jlpm build` in labextension/"
        )
    # only these widgets and what they reference, not every widget alive in the kernel
    data = embed_data(views=views, state=dependency_state(views))
    view_tags = "\n".join(
        '<script type="application/vnd.jupyter.widget-view+json">\n'
        + _script_safe(json.dumps(spec))
        + "\n</script>"
        for spec in data["view_specs"]
    )
    page = _PAGE.format(
        title=html.escape(title),
        bundle=_script_safe(EMBED_BUNDLE.read_text(encoding="utf-8")),
        state=_script_safe(json.dumps(data["manager_state"])),
        views=view_tags,
    )
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out
