"""The error types the CLI turns into a single line instead of a traceback.

Every expected failure is raised as a ``DataAgentError`` whose message reads
``<what went wrong> (<file>[, line N][, column C])``, so a user sees what and where
in one line, and the CLI prints it as ``error: ...`` with exit status 2.
"""

from __future__ import annotations

from pathlib import Path


def where(
    path: str | Path | None = None, *, line: int | None = None, row: int | None = None, column: str | int | None = None
) -> str:
    """The ``(<file>, line N, column 'c')`` suffix; empty when nothing is known."""
    parts = [] if path is None else [str(path)]
    if line is not None:
        parts.append(f"line {line}")
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        # A field is named in quotes, a character position (JSON, YAML) as a plain number.
        parts.append(f"column {column}" if isinstance(column, int) else f"column '{column}'")
    return f" ({', '.join(parts)})" if parts else ""


class DataAgentError(Exception):
    """A user-facing problem: bad input, a missing file, a failed contract, a refused configuration.

    ``DataAgentError("what", path=p, line=3)`` reads ``what (p, line 3)``; a plain message is kept as is.
    """

    def __init__(
        self,
        what: str,
        path: str | Path | None = None,
        *,
        line: int | None = None,
        row: int | None = None,
        column: str | int | None = None,
    ):
        what = " ".join(str(what).split("\n"))  # one line, always: the CLI prints exactly one
        super().__init__(what + where(path, line=line, row=row, column=column))
        self.what, self.path, self.line, self.row, self.column = what, path, line, row, column


class ContractError(DataAgentError):
    """A record file breaks its contract; the message names file, row (or line) and column."""

    def __init__(
        self,
        path: str,
        row: int | None,
        column: str | None,
        expected: str,
        got: object = None,
        *,
        line: int | None = None,
    ):
        got_text = "" if got is None else f", got {_short(got)}"
        super().__init__(f"expected {expected}{got_text}", path, line=line, row=row, column=column)
        self.expected = expected


class StageFailed(DataAgentError):  # noqa: N818 - reads as the event it reports
    """A stage ran but produced nothing because every input failed; the message says why."""


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
