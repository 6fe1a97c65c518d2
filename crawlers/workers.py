"""Page extraction off Scrapy's reactor thread: a pool of worker processes with bounded in-flight work.

Decoding, trafilatura, metadata and QA harvesting are pure Python under the GIL (about 10 ms a page), so
in the crawl process they hold the reactor while the downloader waits. ``ExtractPool`` runs
``crawlers.extract.process_page`` in worker processes instead; the spider awaits the result on the
asyncio reactor, so the reactor keeps downloading and parsing links meanwhile. ``process_page`` is one
picklable call with plain-data arguments and result, so a page extracted in a worker gives the same
record as a page extracted inline (``tests/test_crawl_workers.py`` crawls a site both ways).

``DATAAGENT_EXTRACT_WORKERS``: unset or ``auto`` is one worker per core less the one the crawl loop
uses, at least 1; ``0`` extracts inline on the reactor thread (for debugging: one process, plain
tracebacks, pdb works).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from crawlers.extract import process_page

# Modules the fork server imports once, so every worker starts from a process that has them.
_PRELOAD = ["crawlers.extract", "crawlers.encoding", "crawlers.faq", "validate.text"]

_WARMUP_HTML = (
    "<html><head><title>t</title><meta property='article:published_time' content='2024-01-02'>"
    "</head><body><article><h1>Warm-up</h1><p>" + "Warm up the extractor. " * 20 + "</p></article></body></html>"
)


# CPU seconds this worker had used when its warm-up ended; None in a process that is not a warmed worker.
_CPU_AT_START: float | None = None


def warm_up() -> None:
    """Load what extraction loads on first use (trafilatura's tables, the date parser, the language model).

    About a second, paid before downloads start rather than in the middle of the first responses.
    """
    global _CPU_AT_START
    process_page(_WARMUP_HTML.encode(), "utf-8", "http://localhost/", {}, 0)
    _CPU_AT_START = time.process_time()


def _in_worker(func: Callable[..., dict], args: tuple) -> tuple[dict, int, float]:
    """``func(*args)`` in a worker, with the worker's pid and the CPU seconds it has used since its warm-up.

    The crawl process cannot see its workers' CPU time (they are the fork server's children), so each page
    brings back its worker's running total: the crawl's CPU cost is its own plus the last total of each worker.
    """
    result = func(*args)
    return result, os.getpid(), time.process_time() - (_CPU_AT_START or 0.0)


def cores() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def worker_count(value: Any) -> int:
    """The ``DATAAGENT_EXTRACT_WORKERS`` setting as a number: None/""/"auto" -> cores - 1 (at least 1)."""
    if value is None or str(value).strip().lower() in ("", "auto"):
        return max(cores() - 1, 1)
    try:
        workers = int(value)
    except ValueError:
        raise ValueError(f"DATAAGENT_EXTRACT_WORKERS must be a number or 'auto', not {value!r}") from None
    if workers < 0:
        raise ValueError(f"DATAAGENT_EXTRACT_WORKERS must be 0 (inline) or more, not {workers}")
    return workers


def crashed_page(header_charset: str | None) -> dict:
    """The result of a page whose extraction killed its worker twice: dropped as ``extract_crash``."""
    return {
        "encoding": header_charset or "utf-8",
        "how": "header",
        "doc": None,
        "drop": "extract_crash",
        "pairs": [],
        "timings": {},
    }


class ExtractPool:
    """``process_page`` in ``workers`` processes (0: inline), at most ``max_in_flight`` pages submitted at once.

    The bound keeps pages that wait for a worker as responses in the crawl process (Scrapy's scraper
    slot counts their bytes and stops downloading past ``SCRAPER_SLOT_MAX_ACTIVE_SIZE``) instead of
    as pickled copies queued in the executor. Two per worker keeps each worker busy while the next
    page's arguments travel.
    """

    def __init__(self, workers: int, max_in_flight: int = 0, func: Callable[..., dict] = process_page) -> None:
        self.workers = workers
        self.func = func  # a module-level function (pickled by name); process_page but in tests
        self.max_in_flight = max_in_flight or 2 * workers
        self.in_flight = 0
        self.peak_in_flight = 0
        self.restarts = 0
        self.worker_cpu: dict[int, float] = {}  # pid -> CPU seconds since its warm-up, as its last page said
        self._slots: asyncio.Semaphore | None = None
        self._executor: ProcessPoolExecutor | None = None
        if workers:
            self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # forkserver: workers fork from a clean server process, never from the crawl process with its
        # reactor and threads; the server imports the extraction modules once for all of them.
        context = get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=warm_up)

    def start(self) -> None:
        """Start and warm every worker now (blocking), so the crawl's clock starts with a ready pool."""
        if self._executor is None:
            warm_up()
            return
        # Workers are started on demand, one per task that finds none idle: one task each starts them all.
        for future in [self._executor.submit(cores) for _ in range(self.workers)]:
            future.result()

    async def process(self, *args: Any) -> dict:
        """``func(*args)`` (``process_page``), in a worker when there is a pool."""
        if self._executor is None:
            return self.func(*args)
        if self._slots is None:  # made here, on the reactor's event loop
            self._slots = asyncio.Semaphore(self.max_in_flight)
        async with self._slots:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                for _attempt in (1, 2):
                    executor = self._executor
                    try:
                        result, pid, cpu = await asyncio.get_running_loop().run_in_executor(
                            executor, _in_worker, self.func, args
                        )
                        self.worker_cpu[pid] = cpu
                        return result
                    except BrokenProcessPool:
                        # A worker died (a parser crash, the OOM killer): every page it shared the pool with
                        # fails too. A fresh pool retries each once; a page that kills it again is dropped.
                        if executor is self._executor:
                            executor.shutdown(wait=False, cancel_futures=True)
                            self._executor = self._new_executor()
                            self.restarts += 1
                return crashed_page(args[1])
            finally:
                self.in_flight -= 1

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds the workers spent since their warm-up, up to their last page (0.0 inline)."""
        return sum(self.worker_cpu.values())

    def close(self) -> None:
        """Cancel queued pages and wait for the workers to exit."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
