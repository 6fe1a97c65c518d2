"""Scale one crawl out over several worker processes or machines through Redis (scrapy-redis).

    scrapy crawl site -a start_url=https://example.org/ \\
        -s DATAAGENT_REDIS_URL=redis://redis-host:6379/0 -s DATAAGENT_REDIS_KEY=myjob

Every worker started with the same DATAAGENT_REDIS_URL and DATAAGENT_REDIS_KEY shares one
request queue, one request dupefilter and the pipelines' dedup sets (canonical URLs,
content hashes), all kept in Redis under ``dataagent:<spider>:<job>:*``. A worker stops by
itself once the shared queue is empty and no other worker of the job is still busy (it
might yet queue new links). See docs/SCALEOUT.md for the commands, the caveats and how to clear a job's keys:

    python -m crawlers.scaleout status --redis-url redis://redis-host:6379/0 --job myjob
    python -m crawlers.scaleout clear  --redis-url redis://redis-host:6379/0 --job myjob

Written against scrapy-redis 0.9.1 on Scrapy 2.19. What had to change there, and why, is
said on each subclass below; site-packages is never patched.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import socket
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.asyncio import create_looping_call
from scrapy.utils.misc import load_object

logger = logging.getLogger(__name__)

KEY_PREFIX = "dataagent"
DEFAULT_JOB = "default"
# Job names end up inside Redis keys *and* inside scrapy-redis's "%(spider)s" key templates,
# which are %-formatted twice: keep them to characters that survive both.
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# A worker marks itself busy for this long after each heartbeat or dequeued request; a
# worker that dies holding requests therefore delays the others' exit by at most this much.
DEFAULT_BUSY_LEASE_S = 30.0
DEFAULT_HEARTBEAT_S = 1.0


def job_name(value: object) -> str:
    """Validate DATAAGENT_REDIS_KEY; empty means the shared ``default`` job."""
    name = str(value or "").strip() or DEFAULT_JOB
    if not _JOB_NAME.match(name):
        raise ValueError(
            f"DATAAGENT_REDIS_KEY={value!r}: use 1-100 characters from A-Z a-z 0-9 _ . - (not starting with . _ -)"
        )
    return name


def job_prefix(spider: str, job: object = "") -> str:
    """``dataagent:<spider>:<job>``: every Redis key of one scale-out job starts with this."""
    return f"{KEY_PREFIX}:{spider}:{job_name(job)}"


def redact(url: str) -> str:
    """A Redis URL fit for logs: the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class RedisScaleOut:
    """Scrapy add-on: with DATAAGENT_REDIS_URL set, the scheduler, the dupefilter and the
    pipelines' dedup sets move to Redis so that N ``scrapy crawl`` workers share one crawl.
    Without it the add-on does nothing.

    Settings are set at "addon" priority, so settings.py and ``-s`` still win; do not set
    SCHEDULER_PERSIST=False for a multi-worker job (the first worker to stop would wipe the
    shared queue and dupefilter from under the others).
    """

    def update_settings(self, settings: Any) -> None:
        url = str(settings.get("DATAAGENT_REDIS_URL") or "").strip()
        if not url:
            return
        try:
            import scrapy_redis  # noqa: F401
        except ImportError as exc:  # pragma: no cover - it is in requirements.txt
            raise RuntimeError("DATAAGENT_REDIS_URL is set but scrapy-redis is not installed") from exc
        prefix = f"{KEY_PREFIX}:%(spider)s:{job_name(settings.get('DATAAGENT_REDIS_KEY'))}"
        values = {
            "SCHEDULER": "crawlers.scaleout.SharedScheduler",
            "DUPEFILTER_CLASS": "crawlers.scaleout.SharedDupeFilter",
            "SCHEDULER_QUEUE_CLASS": "crawlers.scaleout.SharedPriorityQueue",
            "REDIS_URL": url,
            "SCHEDULER_QUEUE_KEY": f"{prefix}:requests",
            "SCHEDULER_DUPEFILTER_KEY": f"{prefix}:dupefilter",
            # The queue and dupefilter belong to the job, not to one worker: keep them when a
            # worker stops (scrapy-redis would otherwise delete both on close), never wipe
            # them when one starts. A finished job is cleared by hand (docs/SCALEOUT.md).
            "SCHEDULER_PERSIST": True,
            "SCHEDULER_FLUSH_ON_START": False,
            # scrapy-redis waits for work with a *blocking* BRPOP of this many seconds inside
            # next_request(), which freezes the whole Twisted reactor (downloads, parsing) of
            # the worker meanwhile, and its default PriorityQueue ignores it anyway. The wait
            # for other workers is done by SharedScheduler's spider_idle handler instead.
            "SCHEDULER_IDLE_BEFORE_CLOSE": 0,
        }
        for name, value in values.items():
            settings.set(name, value, priority="addon")
        if settings.get("SCHEDULER") != values["SCHEDULER"]:
            logger.warning(
                "DATAAGENT_REDIS_URL is set but SCHEDULER=%s overrides the scale-out scheduler",
                settings.get("SCHEDULER"),
            )


# -- scrapy-redis 0.9.1 pieces, adjusted for Scrapy 2.19 and for several workers -------------

try:
    from scrapy_redis.dupefilter import RFPDupeFilter as _RedisDupeFilter
    from scrapy_redis.queue import PriorityQueue as _RedisPriorityQueue
    from scrapy_redis.scheduler import Scheduler as _RedisScheduler
except ImportError:  # pragma: no cover - only the add-on's no-Redis path runs without it
    _RedisDupeFilter = _RedisPriorityQueue = _RedisScheduler = object  # type: ignore[assignment,misc]


# Pop the best request and, in the same atomic step, mark this worker busy. Done apart, a
# worker that finds the queue empty could look in the gap between another worker's pop and
# its "busy" mark, see nobody busy, and stop while new links were still to come.
_POP_AND_MARK = """
local found = redis.call('ZRANGE', KEYS[1], 0, 0)
if found[1] then
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
end
return found[1]
"""


class SharedPriorityQueue(_RedisPriorityQueue):
    """scrapy-redis's PriorityQueue (same sorted set, same encoding), plus an atomic pop that
    also marks the popping worker busy."""

    def pop_and_mark(self, busy_key: str, lease_ms: int) -> Any:
        script = getattr(self, "_pop_script", None)
        if script is None:
            script = self._pop_script = self.server.register_script(_POP_AND_MARK)
        data = script(keys=[self.key, busy_key], args=[lease_ms])
        return self._decode_request(data) if data else None


class SharedDupeFilter(_RedisDupeFilter):
    """scrapy-redis's RFPDupeFilter with two changes:

    * fingerprints come from the crawler's own request fingerprinter (REQUEST_FINGERPRINTER_*
      settings, the one HTTPCACHE uses) rather than scrapy-redis's private sha1-of-JSON, so
      "same request" means the same thing as in a single-process crawl;
    * close() keeps the set: 0.9.1 deletes it, but the set belongs to every worker of the job.
    """

    fingerprinter: Any = None

    @classmethod
    def from_spider(cls, spider: Any) -> SharedDupeFilter:
        df = super().from_spider(spider)
        df.fingerprinter = getattr(spider.crawler, "request_fingerprinter", None)
        return df

    def request_fingerprint(self, request: Any) -> str:
        if self.fingerprinter is None:
            return super().request_fingerprint(request)
        return self.fingerprinter.fingerprint(request).hex()

    def close(self, reason: str = "") -> None:
        return None


class SharedScheduler(_RedisScheduler):
    """scrapy-redis's Scheduler, made to stop only when the whole job is done.

    Scrapy closes a spider when its engine is idle; with scrapy-redis the engine is idle as
    soon as the *shared* queue is empty, even while another worker is still parsing pages
    whose links will refill it. So each worker keeps a lease key ``<job>:busy:<worker>``
    alive while it has work in hand (set atomically with every pop, refreshed by a heartbeat,
    deleted when idle), and an idle worker with an empty queue raises DontCloseSpider while
    any other worker's lease is alive, polling the queue every heartbeat meanwhile.

    Also replaced from 0.9.1, for Scrapy 2.19: stats are counted without the ``spider=``
    argument 2.19 deprecates (0.9.1 passes it on every enqueue and dequeue), and open() does
    not call the deprecated ``Spider.log()``.
    """

    crawler: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> SharedScheduler:
        url = crawler.settings.get("REDIS_URL") or ""
        try:
            scheduler = cls.from_settings(crawler.settings)  # scrapy-redis: builds the client, PINGs
        except Exception as exc:
            raise RuntimeError(f"cannot use Redis at {redact(url)} for scale-out: {exc}") from exc
        scheduler.stats = crawler.stats
        scheduler.crawler = crawler
        settings = crawler.settings
        scheduler.job = job_name(settings.get("DATAAGENT_REDIS_KEY"))
        scheduler.lease_ms = int(1000 * settings.getfloat("DATAAGENT_REDIS_BUSY_LEASE", DEFAULT_BUSY_LEASE_S))
        scheduler.heartbeat_s = settings.getfloat("DATAAGENT_REDIS_HEARTBEAT", DEFAULT_HEARTBEAT_S)
        scheduler.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        scheduler.redis_url = redact(url)
        scheduler._waiting = False
        scheduler._loop = None
        crawler.signals.connect(scheduler._on_idle, signal=signals.spider_idle)
        # After the SpiderState extension (JOBDIR) has loaded spider.state, which it does on
        # spider_opened, before any page is parsed.
        crawler.signals.connect(scheduler._share_state, signal=signals.spider_opened)
        return scheduler

    # -- lifecycle ------------------------------------------------------------------------

    def open(self, spider: Any) -> None:
        # 0.9.1's open(), minus its "Resuming crawl" spider.log() call, deprecated in Scrapy 2.19
        # (the summary below says the same and more).
        self.spider = spider
        try:
            self.queue = load_object(self.queue_cls)(
                server=self.server,
                spider=spider,
                key=self.queue_key % {"spider": spider.name},
                serializer=self.serializer,
            )
        except TypeError as exc:
            raise ValueError(f"Failed to instantiate queue class {self.queue_cls!r}: {exc}") from exc
        if not self.df:
            self.df = load_object(self.dupefilter_cls).from_spider(spider)
        if self.flush_on_start:
            self.flush()
        prefix = job_prefix(spider.name, self.job)
        self.workers_key = f"{prefix}:workers"
        self.busy_prefix = f"{prefix}:busy:"
        self.busy_key = self.busy_prefix + self.worker_id
        queued, seen = len(self.queue), self.server.scard(self.df.key)
        others = self._busy_others()
        pipe = self.server.pipeline()
        pipe.sadd(self.workers_key, self.worker_id)
        pipe.set(self.busy_key, "1", px=self.lease_ms)  # busy: start() has yet to run
        pipe.execute()
        logger.info(
            "scale-out: worker %s joined job %s on %s (%d queued, %d requests seen, %d other workers busy)",
            self.worker_id,
            prefix,
            self.redis_url,
            queued,
            seen,
            len(others),
        )
        if seen and not queued and not others:
            logger.warning(
                "scale-out: job %s already has %d seen requests and nothing queued: it looks finished, and"
                " pages it fetched will not be fetched again. To crawl afresh, clear it first:"
                " python -m crawlers.scaleout clear --redis-url %s --spider %s --job %s",
                prefix,
                seen,
                self.redis_url,
                spider.name,
                self.job,
            )
        self._loop = create_looping_call(self._heartbeat)
        self._loop.start(self.heartbeat_s, now=False)

    def close(self, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        try:
            pipe = self.server.pipeline()
            pipe.delete(self.busy_key)
            pipe.srem(self.workers_key, self.worker_id)
            pipe.execute()
        except Exception as exc:  # Redis gone: the lease expires by itself
            logger.warning("scale-out: could not deregister worker %s: %s", self.worker_id, exc)
        super().close(reason)  # SCHEDULER_PERSIST=True: keeps the job's queue and dupefilter

    def _share_state(self, spider: Any) -> None:
        state = getattr(spider, "state", None) or {}
        spider.state = SharedState(self.server, job_prefix(spider.name, self.job), dict(state))

    # -- queue ----------------------------------------------------------------------------

    def enqueue_request(self, request: Any) -> bool:
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self) -> Any:
        if hasattr(self.queue, "pop_and_mark"):
            request = self.queue.pop_and_mark(self.busy_key, self.lease_ms)
        else:  # another SCHEDULER_QUEUE_CLASS: mark right after the pop (a small race, see above)
            request = self.queue.pop(self.idle_before_close)
            if request is not None:
                self.server.set(self.busy_key, "1", px=self.lease_ms)
        if request is not None:
            self._waiting = False
            if self.stats:
                self.stats.inc_value("scheduler/dequeued/redis")
        return request

    # -- staying alive while the job is not done ---------------------------------------------

    def _busy_others(self) -> list[str]:
        workers = [w.decode() if isinstance(w, bytes) else w for w in self.server.smembers(self.workers_key)]
        workers = [w for w in workers if w != getattr(self, "worker_id", None)]
        if not workers:
            return []
        pipe = self.server.pipeline()
        for worker in workers:
            pipe.exists(self.busy_prefix + worker)
        alive = pipe.execute()
        # Ids stay in the set while their worker runs, busy or not; one that died is simply
        # never busy again once its lease runs out.
        return [w for w, a in zip(workers, alive, strict=True) if a]

    def _on_idle(self, spider: Any) -> None:
        engine = self.crawler.engine
        if engine is not None and not engine.spider_is_idle():
            raise DontCloseSpider  # something arrived since the engine looked
        self.server.delete(self.busy_key)
        if len(self.queue):
            raise DontCloseSpider
        busy = self._busy_others()
        if busy:
            if not self._waiting:
                logger.info(
                    "scale-out: shared queue empty, waiting for %d busy worker(s): %s", len(busy), ", ".join(busy)
                )
            self._waiting = True
            raise DontCloseSpider
        if self._waiting:
            logger.info("scale-out: no worker busy and the shared queue is empty: job done, closing")
        self._waiting = False

    def _heartbeat(self) -> None:
        engine = self.crawler.engine
        if engine is None or self.spider is None:
            return
        try:
            if engine.spider_is_idle():
                self.server.delete(self.busy_key)
            else:
                self.server.set(self.busy_key, "1", px=self.lease_ms)
        except RuntimeError:  # engine slot gone: the spider is closing
            return
        except Exception as exc:  # a Redis hiccup must not stop the heartbeat loop
            logger.warning("scale-out: heartbeat failed: %s", exc)
            return
        if self._waiting:
            # Scrapy's own engine heartbeat only retries the scheduler every 5 s; while this
            # worker waits for others, look at the shared queue every heartbeat instead.
            slot = getattr(engine, "_slot", None)
            nextcall = getattr(slot, "nextcall", None)
            if nextcall is not None:
                nextcall.schedule()


class _ClaimSet:
    """A set of strings held in Redis for the whole job, standing in for a ``set`` in spider.state.

    ``x in s`` *claims* x atomically (SADD) and answers whether some worker had it before, so
    two workers that meet the same URL or text at the same moment cannot both keep it; the
    ``s.add(x)`` the pipelines do next is then a no-op. This matches how crawlers/pipelines.py
    uses its dedup sets (``if x in seen: drop``, then ``seen.add(x)``); a set consulted
    without being added to would need plain SISMEMBER instead.
    """

    def __init__(self, server: Any, key: str) -> None:
        self.server = server
        self.key = key

    def __contains__(self, value: object) -> bool:
        return self.server.sadd(self.key, str(value)) == 0

    def add(self, value: object) -> None:
        self.server.sadd(self.key, str(value))

    def discard(self, value: object) -> None:
        self.server.srem(self.key, str(value))

    def update(self, values: Any) -> None:
        values = [str(v) for v in values]
        if values:
            self.server.sadd(self.key, *values)

    def __len__(self) -> int:
        return int(self.server.scard(self.key))

    def __iter__(self) -> Any:
        return (v.decode() if isinstance(v, bytes) else v for v in self.server.sscan_iter(self.key))

    def __reduce__(self) -> tuple:
        # JOBDIR pickles spider.state at close; the job's copy lives in Redis, keep none locally.
        return (set, ())


class SharedState(dict):
    """``spider.state`` for a scale-out worker: every ``set`` stored in it lives in Redis
    (``<job>:state:<name>``), shared by all workers; other values stay per worker.

    The pipelines keep their dedup memory in spider.state (canonical URLs, content hashes,
    FAQ hashes), so sharing those sets makes the union of the workers' outputs hold each page
    once, as a single-process crawl would: "/" fetched by one worker and "/index.html" by
    another no longer both survive. Counters (max_pages) and MinHash near-dup indexes stay
    per worker.
    """

    def __init__(self, server: Any, prefix: str, initial: dict | None = None) -> None:
        super().__init__()
        self._server = server
        self._prefix = prefix
        for key, value in (initial or {}).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, set | frozenset):
            shared = _ClaimSet(self._server, f"{self._prefix}:state:{key}")
            shared.update(value)
            value = shared
        super().__setitem__(key, value)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __reduce__(self) -> tuple:
        return (dict, (dict(self),))


# -- operator commands ---------------------------------------------------------------------


def job_status(redis_url: str, spider: str = "site", job: str = "") -> dict[str, Any]:
    """Queue length, seen requests, kept texts and busy workers of one job."""
    from scrapy_redis.connection import get_redis

    server = get_redis(url=redis_url)
    prefix = job_prefix(spider, job)
    workers = sorted(w.decode() for w in server.smembers(f"{prefix}:workers"))
    busy = [w for w in workers if server.exists(f"{prefix}:busy:{w}")]
    return {
        "prefix": prefix,
        "queued": server.zcard(f"{prefix}:requests"),
        "seen": server.scard(f"{prefix}:dupefilter"),
        "state": {
            k.decode().rsplit(":", 1)[1]: server.scard(k)
            for k in server.scan_iter(match=f"{prefix}:state:*", count=1000)
        },
        "workers": workers,
        "busy": busy,
    }


def clear_job(redis_url: str, spider: str = "site", job: str = "") -> int:
    """Delete every key of one job (``dataagent:<spider>:<job>:*``); returns how many."""
    from scrapy_redis.connection import get_redis

    server = get_redis(url=redis_url)
    keys = list(server.scan_iter(match=f"{job_prefix(spider, job)}:*", count=1000))
    return int(server.delete(*keys)) if keys else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawlers.scaleout", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["status", "clear"])
    parser.add_argument("--redis-url", required=True, help="e.g. redis://redis-host:6379/0")
    parser.add_argument("--spider", default="site")
    parser.add_argument("--job", default="", help=f"DATAAGENT_REDIS_KEY of the crawl (empty: {DEFAULT_JOB})")
    args = parser.parse_args(argv)
    if args.command == "clear":
        status = job_status(args.redis_url, args.spider, args.job)
        if status["busy"]:
            print(f"refusing to clear {status['prefix']}: workers still busy: {status['busy']}", file=sys.stderr)
            return 1
        print(f"deleted {clear_job(args.redis_url, args.spider, args.job)} keys under {status['prefix']}:*")
        return 0
    for name, value in job_status(args.redis_url, args.spider, args.job).items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
