"""What every resource module shares, so that the resources and ``http.py`` never import each other.

``http.py`` builds :class:`~.http.RealtimeKitClient`, which holds one instance of each resource;
the resources need only a few things from it (``request``, ``walk``, ``session``, ``timeout``),
described here by the :class:`Client` protocol, and a few helpers of their own (:data:`OMIT`,
:func:`_given`, :func:`_query_order`, id checks and path segments). Both sides import this
module; it imports neither, so ``client/`` has no import circle (``tests/test_structure.py``
checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from .. import schema
from ..exceptions import ValidationError

if TYPE_CHECKING:
    import requests

    from .paging import PageWalk


class Client(Protocol):
    """What a resource uses of :class:`~.http.RealtimeKitClient`."""

    session: requests.Session
    timeout: tuple[float, float]

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
    ) -> dict: ...

    def walk(self, fetch: Callable[[int, int], dict], per_page: int | None = None) -> PageWalk: ...


class _Omit:
    """Marks a keyword that was not given, so that ``None`` can still be sent as JSON null."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


def _given(base: dict, **optional: Any) -> dict:
    return {**base, **{key: value for key, value in optional.items() if value is not OMIT}}


def _query_order(params: Mapping[str, Any], order: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(key, params[key]) for key in order if key in params]


def _validate_ids(**ids: str) -> None:
    """Refuse empty, non-string or unstorable ids (NUL, lone surrogates) before any request."""
    bad = [
        (name, "must be a non-empty string")
        for name, value in ids.items()
        if not value or not isinstance(value, str)
    ]
    bad += [
        problem
        for name, value in ids.items()
        if isinstance(value, str)
        for problem in schema.unstorable(value, name)
    ]
    if bad:
        raise ValidationError(bad)


def _seg(value: str) -> str:
    """One path segment, every reserved character escaped."""
    return quote(value, safe="")
