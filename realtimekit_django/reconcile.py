"""Deprecated: the paged walks moved to :mod:`realtimekit_django.sync.reconcile`.

Kept so that sites which followed the docs of earlier versions
(``from realtimekit_django.reconcile import reconcile_meetings``) keep working on upgrade:
every name is the new module's own object, and importing this module warns once with a
``DeprecationWarning`` naming the new path. It will be removed in a later release (see
CHANGELOG.md, "Moved import paths").
"""

from __future__ import annotations

import warnings

from .sync import reconcile as _moved_to

warnings.warn(
    "realtimekit_django.reconcile moved to realtimekit_django.sync.reconcile; import it from there",
    DeprecationWarning,
    stacklevel=2,
)


def __getattr__(name: str):
    return getattr(_moved_to, name)


def __dir__() -> list[str]:
    return dir(_moved_to)
