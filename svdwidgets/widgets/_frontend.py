"""The front-end module our widgets name: the npm package in ``labextension/``."""

from __future__ import annotations

from svdwidgets._version import __version__

__all__ = ["MODULE_NAME", "MODULE_VERSION"]

MODULE_NAME = "svdwidgets"
"""``name`` in ``labextension/package.json``: the module the JupyterLab plugin registers."""

MODULE_VERSION = f"^{__version__}"
"""A semver range the registered version (``package.json``'s ``version``) satisfies.

``__version__`` comes from the same file through hatch-nodejs-version. It is valid semver for
plain ``X.Y.Z``; an npm prerelease (``0.2.0-alpha.0``) becomes PEP 440 ``0.2.0a0``, which is not,
so prereleases must not be released without revisiting this line.
"""
