"""A minimal in-memory double-entry-ish ledger."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Iterator, NamedTuple


class Entry(NamedTuple):
    """One posted transaction."""

    when: date
    account: str
    amount: float
    memo: str


class Ledger:
    """Keeps a list of entries and per-account balances.

    Amounts are positive for credits and negative for debits.
    """

    def __init__(self, name: str, currency: str = "TWD") -> None:
        """Create an empty ledger.

        Args:
            name: Human-readable ledger name.
            currency: ISO 4217 currency code used for every entry.
        """
        self.name = name
        self.currency = currency
        self._entries: list[Entry] = []
        self._balances: dict[str, float] = defaultdict(float)

    def post(self, account: str, amount: float, memo: str = "", when: date | None = None) -> Entry:
        """Record a transaction and update the account balance.

        Args:
            account: Account name, e.g. ``"cash"``.
            amount: Signed amount; zero is rejected.
            memo: Optional free-text description.
            when: Posting date; defaults to today.

        Returns:
            The stored :class:`Entry`.

        Raises:
            ValueError: If ``amount`` is zero.
        """
        if amount == 0:
            raise ValueError("amount must be non-zero")
        entry = Entry(when or date.today(), account, float(amount), memo)
        self._entries.append(entry)
        self._balances[account] += entry.amount
        return entry

    def transfer(self, source: str, target: str, amount: float, memo: str = "") -> None:
        """Move ``amount`` from ``source`` to ``target`` as two entries."""
        if amount <= 0:
            raise ValueError("transfer amount must be positive")
        self.post(source, -amount, memo or f"transfer to {target}")
        self.post(target, amount, memo or f"transfer from {source}")

    def balance(self, account: str) -> float:
        """Return the current balance of ``account`` (0.0 if unknown)."""
        return self._balances.get(account, 0.0)

    def entries_for(self, account: str) -> Iterator[Entry]:
        """Yield entries posted to ``account`` in insertion order."""
        for entry in self._entries:
            if entry.account == account:
                yield entry

    def between(self, start: date, end: date) -> list[Entry]:
        """列出指定日期區間（含首尾）內的所有分錄。"""
        if start > end:
            start, end = end, start
        return [e for e in self._entries if start <= e.when <= end]

    @property
    def total(self) -> float:
        """Sum of all account balances."""
        return sum(self._balances.values())

    def accounts(self):
        return sorted(self._balances)

    # Drop every entry and reset all balances to zero.
    def clear(self) -> None:
        self._entries.clear()
        self._balances.clear()

    def __repr__(self) -> str:
        """Return a debug representation with name, currency and entry count."""
        return f"Ledger(name={self.name!r}, currency={self.currency!r}, entries={len(self._entries)})"
