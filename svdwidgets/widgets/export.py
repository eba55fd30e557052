"""Standalone HTML for papers: widget state and our renderer inlined, no kernel, no network.

The standard ``ipywidgets.embed`` pages load require.js and the widget manager from a CDN and
then look for custom modules on npm; this page instead inlines ``svdwidgets-embed.js`` (built
from ``labextension/embed/`` with the package: ``@jupyter-widgets/html-manager``, our views and
the bqplot and bqscales front ends), so it renders offline from a single file. Front-end
interactions keep working (a click selects a frequency, a bqplot click or brush selects points);
anything computed by the kernel (``SpectrumView.selected``) is frozen as exported.

The bundle's first line lists the front-end modules it carries and their versions; a widget
whose module is not among them, or whose ``_model_module_version`` range the bundled version
does not satisfy (npm semver, as the page's loader checks it), is refused before anything is
written.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from pathlib import Path

from ipywidgets import DOMWidget
from ipywidgets.embed import dependency_state, embed_data

from svdwidgets._atomic import write_atomically
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
<style>
/* JupyterLab's light-theme variables are defined by the renderer when the page has none */
body {{
  margin: 16px;
  font-family: var(--jp-ui-font-family, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #000);
  background: var(--jp-layout-color0, #fff);
}}
</style>
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


_MANIFEST = re.compile(r"/\*! svdwidgets-embed (\{.*?\}) \*/")
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_PARTIAL = re.compile(r"(\d+)(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?")


def _manifest(bundle: str) -> tuple[dict[str, str], set[str]]:
    """The modules the bundle's loader serves ``{name: version}``, and the html-manager's own."""
    match = _MANIFEST.match(bundle)
    if match is None:
        raise SVDWidgetsError(
            f"the offline renderer {EMBED_BUNDLE} has no module list on its first line: it is "
            "from an older build; reinstall svdwidgets (pip install -e .) or run `jlpm build`"
        )
    manifest = json.loads(match.group(1))
    return dict(manifest["modules"]), set(manifest["builtin"])


def _satisfies(version: str, spec: str) -> bool:
    """npm semver: does ``version`` (``X.Y.Z``) satisfy ``spec``?

    Supports what widget models send: ``X.Y.Z``, ``^X[.Y[.Z]]``, ``~X[.Y[.Z]]``, x-ranges
    (``*``, ``X.x``) and ``||`` unions. Anything else raises: it cannot be checked here.
    """
    v = _VERSION.fullmatch(version)
    if v is None:
        return version == spec.strip()  # a prerelease matches only itself
    have = tuple(int(p) for p in v.groups())
    for alt in spec.split("||"):
        alt = alt.strip()
        op, rest = (alt[0], alt[1:]) if alt[:1] in ("^", "~", "=") else ("", alt)
        if rest in ("", "*", "x", "X"):
            if op in ("", "="):
                return True
            continue
        m = _PARTIAL.fullmatch(rest.strip())
        if m is None:
            raise SVDWidgetsError(f"cannot check the module version range {spec!r}")
        fixed: list[int] = []  # the leading numeric parts; "x", "*" or nothing ends them
        for part in m.groups():
            if part is None or not part.isdigit():
                break
            fixed.append(int(part))
        low = (*fixed, *[0] * (3 - len(fixed)))
        if op == "^":  # up to the next change of the first nonzero part given
            bump = next((i for i, p in enumerate(fixed) if p != 0), len(fixed) - 1)
        elif op == "~":  # up to the next minor (or major, if only X is given)
            bump = min(1, len(fixed) - 1)
        else:  # exact, or an x-range: the given parts must match
            bump = len(fixed) - 1
        high = (*fixed[:bump], fixed[bump] + 1, *[0] * (2 - bump))
        if low <= have < high:
            return True
    return False


def _check_modules(state: dict[str, dict], bundle: str) -> None:
    """Refuse widgets the bundled renderer cannot draw (module missing or version not served)."""
    modules, builtin = _manifest(bundle)
    problems: dict[str, str] = {}
    for model in state.values():
        st = model.get("state", {})
        for module, spec in (
            (model.get("model_module"), model.get("model_module_version")),
            (st.get("_view_module"), st.get("_view_module_version")),
        ):
            if module is None or module in builtin:
                continue
            key = f"{model.get('model_name')} ({module}@{spec})"
            if module not in modules:
                problems[key] = f"module {module} is not bundled"
            elif spec is not None and not _satisfies(modules[module], spec):
                problems[key] = f"{module} {modules[module]} is bundled"
    if problems:
        details = "; ".join(f"{k}: {v}" for k, v in sorted(problems.items()))
        raise SVDWidgetsError(
            f"export_html cannot render these widgets offline: {details}. The renderer bundles "
            f"{', '.join(f'{k} {v}' for k, v in sorted(modules.items()))} and "
            f"{', '.join(sorted(builtin))}"
        )


_SCRIPT_END = re.compile(r"</(script)", re.IGNORECASE)


def _script_safe(code: str) -> str:
    """Inline ``<script>`` code must not close the tag (in any case) or open an HTML comment.

    ``<\\/script`` and ``<\\!--`` mean the same inside the bundle's JavaScript strings and
    regular expressions, where these sequences occur.
    """
    return _SCRIPT_END.sub(r"<\\/\1", code).replace("<!--", "<\\!--")


def _json_for_script(value: object) -> str:
    """JSON that cannot end its ``<script>`` element: ``<``, ``>`` and ``&`` as ``\\u`` escapes.

    The result parses to the same value (names such as ``</SCRIPT><script>`` round-trip exactly);
    U+2028/U+2029 are escaped too, for readers that treat the JSON as JavaScript.
    """
    text = json.dumps(value)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def export_html(
    path: str | Path, widgets: DOMWidget | Iterable[DOMWidget], *, title: str = "svdwidgets"
) -> Path:
    """Write ``widgets`` (one or several, e.g. a ``FrequencyMap`` or a ``VBox``) to ``path``.

    The file is self-contained (about 2.4 MB, most of it the renderer: the widget manager and
    controls, our views, bqplot and bqscales) and renders in a browser without a kernel or a
    network connection. Widgets from other front-end packages raise ``SVDWidgetsError``.
    Returns the path written.
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
    bundle = EMBED_BUNDLE.read_text(encoding="utf-8")
    # only these widgets and what they reference, not every widget alive in the kernel
    data = embed_data(views=views, state=dependency_state(views))
    _check_modules(data["manager_state"]["state"], bundle)
    view_tags = "\n".join(
        '<script type="application/vnd.jupyter.widget-view+json">\n'
        + _json_for_script(spec)
        + "\n</script>"
        for spec in data["view_specs"]
    )
    page = _PAGE.format(
        title=html.escape(title),
        bundle=_script_safe(bundle),
        state=_json_for_script(data["manager_state"]),
        views=view_tags,
    )
    out = Path(path)
    # atomically: a full disk or a kill leaves the previous page (or none), never half of one
    write_atomically(out, page.encode("utf-8"), mode=0o644)
    return out
