"""Walking a paged listing, and deciding whether the walk saw the whole of it.

A reconcile flags every stored row a complete walk did not see, so "complete" must be earned:
a listing that lies (a cache that ignores ``page_no``, a short or empty page in the middle, a
``total_count`` that the pages never reach, a page far larger than asked for) must end the walk
as incomplete, which flags nothing, rather than as complete, which flags what it missed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import schema
from ..exceptions import InvalidResponse, ValidationError

logger = logging.getLogger("realtimekit_django.client")

NOT_FINISHED = "the walk has not reached the end of the listing"


@dataclass
class Page:
    """One page of a listing: its items, the page number asked for, and the API's paging."""

    items: list
    page_no: int
    per_page: int
    paging: dict


class _Unusable(Exception):  # noqa: N818 - a control-flow signal inside this module
    """A paging number that is present but not a whole number >= 0."""


def _paging_number(paging: dict, key: str) -> int | None:
    """``paging[key]`` as an int; ``None`` when absent; :class:`_Unusable` when it is garbage."""
    value = paging.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unusable(key)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise _Unusable(key)
    if value < 0:
        raise _Unusable(key)
    return int(value)


def _item_id(item: Any) -> str | None:
    """The item's id when it can identify the item (a non-empty string), else ``None``."""
    if isinstance(item, dict):
        value = item.get("id")
        if isinstance(value, str) and value:
            return value
    return None


@dataclass
class PageWalk:
    """Iterates the pages of a listing; afterwards says whether it saw all of it, and if not, why.

    The walk is complete only when what it saw agrees with the listing: it reached the end
    (``end_offset >= total_count``, or a short page when the listing gives no total), every
    item had an id, the distinct ids number ``total_count``, and ``end_offset`` grew page after
    page. It stops at once, incomplete, when a page brings no new id, when ``end_offset`` does
    not advance, on an empty or short page before ``total_count`` is reached, and after
    ``max_pages`` pages. A page holding more items than ``per_page`` is not yielded at all.
    ``incomplete_reason`` says in one sentence why a walk is not complete (``None`` once it is).

    Items that are not objects or have no usable ``id`` are yielded as they came (the store
    reports and skips them) and counted in ``unidentifiable``: a walk that met one cannot
    prove it saw every item.
    """

    fetch: Callable[[int, int], dict]
    per_page: int
    max_pages: int
    completed: bool = False
    incomplete_reason: str | None = NOT_FINISHED
    pages: int = 0
    items_seen: int = 0
    unidentifiable: int = 0
    total_count: int | None = None
    _ids: set = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.per_page is None:
            raise ValidationError([("per_page", "is required")])
        self.per_page = schema.validate_listing_params(per_page=self.per_page)["per_page"]

    @property
    def distinct_ids(self) -> int:
        """How many different item ids the walk has seen."""
        return len(self._ids)

    def __iter__(self) -> Iterator[Page]:
        last_end: int | None = None
        for page_no in range(1, self.max_pages + 1):
            envelope = self.fetch(page_no, self.per_page)
            items = envelope.get("data")
            if not isinstance(items, list):
                raise InvalidResponse("listing 'data' is not a list")
            paging = envelope.get("paging") if isinstance(envelope.get("paging"), dict) else {}
            if len(items) > self.per_page:
                self._stop(f"page {page_no} held {len(items)} items, more than the {self.per_page} asked for")
                return
            try:
                end = _paging_number(paging, "end_offset")
                self.total_count = _paging_number(paging, "total_count")
            except _Unusable as bad:
                self._stop(f"page {page_no} has an unusable paging.{bad}")
                return
            new_ids = self._count(items)
            yield Page(items=items, page_no=page_no, per_page=self.per_page, paging=paging)

            if items and not new_ids:
                self._stop(f"page {page_no} brought no new item (the listing repeats itself)")
                return
            if end is not None and last_end is not None and end <= last_end:
                self._stop(f"page {page_no} did not advance end_offset ({end} after {last_end})")
                return
            last_end = end if end is not None else last_end
            short = len(items) < self.per_page
            if short or (end is not None and self.total_count is not None and end >= self.total_count):
                self._finish(page_no, len(items))
                return
        self._stop(f"the listing still had pages after {self.max_pages} pages (MAX_PAGES)")

    def _count(self, items: list) -> int:
        """Record the page's items; returns how many ids it brought that were not seen before."""
        before = len(self._ids)
        for item in items:
            item_id = _item_id(item)
            if item_id is None:
                self.unidentifiable += 1
            else:
                self._ids.add(item_id)
        self.pages += 1
        self.items_seen += len(items)
        return len(self._ids) - before

    def _finish(self, page_no: int, count: int) -> None:
        """The listing says page ``page_no`` (of ``count`` items) was its last: is that consistent?"""
        total, seen = self.total_count, len(self._ids)
        if self.unidentifiable:
            self._stop(f"{self.unidentifiable} items had no usable id: the walk cannot prove it saw them all")
        elif total is not None and seen < total and count < self.per_page:
            what = "empty" if not count else f"short ({count} of {self.per_page} items)"
            self._stop(f"page {page_no} was {what} before total_count ({total}) was reached ({seen} seen)")
        elif total is not None and seen != total:
            self._stop(f"the listing reports total_count {total} but the walk saw {seen} distinct items")
        else:
            self.completed, self.incomplete_reason = True, None

    def _stop(self, reason: str) -> None:
        self.completed, self.incomplete_reason = False, reason
        logger.warning("listing walk stopped, marked incomplete: %s", reason)
