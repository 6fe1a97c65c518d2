"""The one error type the CLI turns into a single line instead of a traceback."""

from __future__ import annotations


class DataAgentError(Exception):
    """A user-facing problem: bad input, a missing file, a failed contract."""


class ContractError(DataAgentError):
    """A record file breaks its contract; the message names file, row and column."""

    def __init__(self, path: str, row: int | None, column: str | None, expected: str, got: object = None):
        where = [str(path)]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        got_text = "" if got is None else f", got {_short(got)}"
        super().__init__(f"{': '.join(where)}: expected {expected}{got_text}")
        self.path, self.row, self.column, self.expected = path, row, column, expected


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
