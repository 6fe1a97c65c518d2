"""Shared fixtures: the sample site on loopback, one real crawl of it, and a real git repo."""

from __future__ import annotations

import os
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
