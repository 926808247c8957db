"""The two lanes of the rate budget, the context that says which one an attempt spends from, and
the mark of event-driven background work (:func:`event_driven`).

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
_event_driven: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "realtimekit_budget_event_driven", default=False
)


@contextmanager
def _holding(variable: contextvars.ContextVar, value) -> Iterator[None]:
    """``variable`` is ``value`` inside the block, and what it was again after it."""
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)


@contextmanager
def lane(name: str) -> Iterator[None]:
    """Attempts made inside this block spend from lane ``name`` (``interactive`` or ``background``)."""
    if name not in LANES:
        raise ValueError(f"lane must be one of {', '.join(LANES)}, not {name!r}")
    with _holding(_lane, name):
        yield


def current_lane() -> str:
    """The lane attempts made here spend from."""
    return _lane.get()


@contextmanager
def event_driven() -> Iterator[None]:
    """Background attempts made inside this block are event-driven (a webhook announced a change
    the mirror lacks): they may spend the event reserve that routine background work leaves.

    A mark apart from the lane, so that the walks' own ``lane("background")`` inside the block
    keeps it; it changes nothing on the interactive lane.
    """
    with _holding(_event_driven, True):
        yield


def is_event_driven() -> bool:
    """Whether attempts made here are event-driven (:func:`event_driven`)."""
    return _event_driven.get()
