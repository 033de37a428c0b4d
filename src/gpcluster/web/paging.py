"""Long tables a page at a time: which rows a page holds, and links to the others that keep the filters."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

PER_PAGE = 50


def page_number(text: str | None) -> int:
    """A page number from a query string: 1 for anything that is not a positive whole number."""
    try:
        return max(1, int(str(text)))
    except (TypeError, ValueError):
        return 1


@dataclass(frozen=True)
class Paging:
    page: int
    total: int
    per_page: int = PER_PAGE
    params: tuple = ()  # the filters, kept in every link: ((name, value), ...)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def current(self) -> int:
        return min(self.page, self.pages)

    @property
    def offset(self) -> int:
        return (self.current - 1) * self.per_page

    @property
    def first_row(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last_row(self) -> int:
        return min(self.offset + self.per_page, self.total)

    def rows(self, frame):
        """This page's rows of a DataFrame (or list)."""
        return frame.iloc[self.offset:self.offset + self.per_page] if hasattr(frame, "iloc") else \
            frame[self.offset:self.offset + self.per_page]

    def href(self, page: int) -> str:
        return "?" + urlencode([*[(k, v) for k, v in self.params if v not in (None, "")], ("page", page)])

    def links(self) -> list[tuple[int | None, str | None]]:
        """(page number, href) for the pager: first, last, and two either side of the current page; None
        where pages are skipped."""
        wanted = sorted({1, self.pages, *range(max(1, self.current - 2), min(self.pages, self.current + 2) + 1)})
        out: list[tuple[int | None, str | None]] = []
        for n, p in enumerate(wanted):
            if n and p - wanted[n - 1] > 1:
                out.append((None, None))
            out.append((p, self.href(p)))
        return out
