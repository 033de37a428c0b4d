"""One error hierarchy. Library code raises; only the CLI and web layer turn errors into messages."""

from __future__ import annotations

from dataclasses import dataclass, field


class GpclusterError(Exception):
    """Base class for every error gpcluster raises on purpose."""


class UserError(GpclusterError):
    """A problem the user can fix (bad input, bad setting). Shown without a traceback."""


@dataclass(frozen=True)
class Problem:
    """One validation finding. `row` is the 1-based line number in the file (header = line 1)."""

    file: str
    kind: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column!r}"
        return f"{where}: {self.message} [{self.kind}]"


@dataclass
class ValidationFailed(UserError):
    """Input was rejected as a whole; `problems` lists every finding, not only the first."""

    problems: list[Problem] = field(default_factory=list)
    max_shown: int = 20

    def __str__(self) -> str:
        shown = [str(p) for p in self.problems[: self.max_shown]]
        more = len(self.problems) - len(shown)
        tail = [f"... and {more} more problem(s)"] if more > 0 else []
        return "\n".join([f"{len(self.problems)} problem(s) found; nothing was loaded:", *shown, *tail])
