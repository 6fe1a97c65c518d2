"""Items the spiders yield; the pipelines turn them into contract records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DocumentItem:
    url: str
    canonical_url: str
    title: str
    text: str
    language: str
    fetched_at: str
    published_at: str | None
    http_status: int
    source: str
    license: str
    content_hash: str


@dataclass
class QAPairItem:
    """A FAQ pair as the spider scrapes it; the pipelines check it against validate.contracts.QAItem."""

    url: str
    question: str
    answer: str
    language: str
    fetched_at: str
    source: str
    license: str
    origin: str
