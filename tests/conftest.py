"""Shared fixtures: the sample site on loopback, one real crawl of it, and a real git repo."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Keep the tests' Arrow caches out of the user's ~/.cache and away from earlier runs.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="dataagent-test-hf-")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach beyond 127.0.0.1

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from dataagent.samples import SITE_DIR  # noqa: E402
from dataagent.site_server import SiteServer  # noqa: E402


@pytest.fixture(scope="session")
def sample_site():
    with SiteServer(SITE_DIR) as site:
        yield site


@pytest.fixture(scope="session")
def crawl_dir(sample_site, tmp_path_factory) -> Path:
    """One real `scrapy crawl site` of the sample site, shared by the tests that read its output."""
    from crawlers.run import crawl_site

    out = tmp_path_factory.mktemp("crawl")
    crawl_site(
        f"{sample_site.base_url}/",
        out,
        source="sample",
        license="CC BY 4.0",
        settings={"AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8},
    )
    return out


@pytest.fixture(scope="session")
def sample_repo(tmp_path_factory) -> Path:
    from dataagent.samples import make_sample_repo

    return make_sample_repo(tmp_path_factory.mktemp("repo") / "finkit")


# Row builders for the contracts (plain functions: `from conftest import document_row`). Fixed dates and
# ids derived from the texts, so the same call gives the same row on every run.


def free_port() -> int:
    """A port nothing listens on (bound and released): for "server down" cases."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_line(exc: pytest.ExceptionInfo) -> str:
    """The raised error's message, asserted to be the one line the CLI prints."""
    text = str(exc.value)
    assert "\n" not in text
    return text


def document_row(url: str, text: str, **fields: object) -> dict:
    """A Document row as the crawler writes it; ``fields`` override any column."""
    row = {
        "url": url,
        "canonical_url": url,
        "title": "t",
        "text": text,
        "language": "en",
        "fetched_at": "2024-01-01T00:00:00Z",
        "published_at": None,
        "http_status": 200,
        "source": "test",
        "license": "CC0",
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
    }
    return {**row, **fields}


def instruction_row(
    instruction: str,
    output: str,
    input: str = "",  # noqa: A002 - the contract's field name
    task_type: str = "faq_qa",
    language: str = "en",
    source_ref: str = "http://127.0.0.1/x",
    **fields: object,
) -> dict:
    """An InstructionRecord row whose id is synth's (sha256 of the three texts); ``fields`` override any column."""
    row = {
        "id": hashlib.sha256("\x1f".join((instruction, input, output)).encode("utf-8")).hexdigest(),
        "instruction": instruction,
        "input": input,
        "output": output,
        "task_type": task_type,
        "language": language,
        "generator": "rule:test",
        "source_ref": source_ref,
        "created_at": "2024-05-01T00:00:00Z",
    }
    return {**row, **fields}
