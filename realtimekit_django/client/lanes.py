"""The two lanes of the rate budget and the context that says which one an attempt spends from.

Apart from :mod:`.budget` (which re-exports every name here) so that a resource can run its
walks on the background lane without importing the budget, which imports ``http`` and would
close an import circle through the resources.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

INTERACTIVE = "interactive"
BACKGROUND = "background"
LANES = (INTERACTIVE, BACKGROUND)

_lane: contextvars.ContextVar[str] = contextvars.ContextVar("realtimekit_budget_lane", default=INTERACTIVE)


@contextmanager
def lane(name: str) -> Iterator[None]:
    """Attempts made inside this block spend from lane ``name`` (``interactive`` or ``background``)."""
    if name not in LANES:
        raise ValueError(f"lane must be one of {', '.join(LANES)}, not {name!r}")
    token = _lane.set(name)
    try:
        yield
    finally:
        _lane.reset(token)


def current_lane() -> str:
    """The lane attempts made here spend from."""
    return _lane.get()
