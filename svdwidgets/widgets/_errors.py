"""The error a widget's trait validators raise."""

from __future__ import annotations

import traitlets

from svdwidgets.errors import SVDWidgetsError

__all__ = ["TraitValueError"]


class TraitValueError(SVDWidgetsError, traitlets.TraitError):
    """A bad trait value: an SVDWidgetsError that traitlets also rolls back.

    ``set_state`` (a message from the browser) and ``hold_trait_notifications`` undo the
    assignment only for a ``TraitError``; a plain ``ValueError`` would leave the bad value set.
    """
