"""The request cache: one SQLite row per answered request, committed as it arrives.

Keyed by a hash of (template, messages, model, generation params), so a rerun of a
finished job sends nothing, and after a kill -9 only the requests that were in flight
are sent again. SQLite because it is in the standard library, survives a killed process
(WAL journal) and lets two runs share one cache file safely.

Only answers the engine judged valid go into ``responses``. An answer that stayed malformed,
truncated or refused after its re-asks goes into ``failures`` instead, kept for inspection
and for a rerun told not to ask again; by default a rerun asks again.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from validate.text import utc_now


class ResponseCache:
    def __init__(self, path: str | Path | None) -> None:
        self.path = str(path) if path else ":memory:"
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, template TEXT, model TEXT, "
            "text TEXT, finish_reason TEXT, usage TEXT, created_at TEXT)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, template TEXT, model TEXT, "
            "text TEXT, finish_reason TEXT, usage TEXT, reason TEXT, created_at TEXT)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT text, finish_reason, usage FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return {"text": row[0], "finish_reason": row[1], "usage": json.loads(row[2])}

    def put(self, key: str, template: str, model: str, text: str, finish_reason: str, usage: dict) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, template, model, text, finish_reason, json.dumps(usage), utc_now()),
        )
        self.db.execute("DELETE FROM failures WHERE key = ?", (key,))

    def get_failure(self, key: str) -> dict[str, Any] | None:
        """The last invalid answer stored for ``key`` and why it was invalid, or None."""
        row = self.db.execute(
            "SELECT text, finish_reason, usage, reason FROM failures WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return {"text": row[0], "finish_reason": row[1], "usage": json.loads(row[2]), "reason": row[3]}

    def put_failure(
        self, key: str, template: str, model: str, text: str, finish_reason: str, usage: dict, reason: str
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, template, model, text, finish_reason, json.dumps(usage), reason, utc_now()),
        )

    def failure_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self.db.close()
