"""Following a platform's cursors to the end, without trusting it to end: a cursor seen before or a page past the cap
is an `internal` error rather than a call that loops until the host's time limit kills it."""

from typing import Callable, Iterable, Iterator, Optional, Set, Tuple, TypeVar

from .errors import internal

T = TypeVar("T")

#: A page fetcher: given a cursor (None for the first page), the page's items and the next cursor (None or "" when
#: that was the last page).
FetchPage = Callable[[Optional[str]], Tuple[Iterable[T], Optional[str]]]


def paginate(fetch_page: "FetchPage[T]", *, max_pages: int = 100, cursor: Optional[str] = None) -> Iterator[T]:
    """The items of every page, fetched lazily from ``cursor`` on. At most ``max_pages`` pages are fetched: a platform
    that still has more after those is an error (raise the cap for a platform known to have that many). Page-number
    APIs pass the number as the cursor (``str(page + 1)``)."""
    seen: Set[str] = set() if cursor is None else {cursor}
    for page in range(1, max_pages + 1):
        items, next_cursor = fetch_page(cursor)
        yield from items
        if not next_cursor:
            return
        if next_cursor in seen:
            raise internal(f"the platform repeated the cursor {next_cursor!r} after {page} pages: stopped, as it "
                           "would never end")
        seen.add(next_cursor)
        cursor = next_cursor
    raise internal(f"the platform still had more after {max_pages} pages: stopped (raise max_pages if it really has "
                   "that many)")
