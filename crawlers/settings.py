"""Scrapy settings for the DataAgent crawlers.

Politeness (robots.txt + Crawl-delay, AutoThrottle, per-domain concurrency, User-Agent,
HTTP cache) and the crawler-trap bounds (DATAAGENT_TRAP_*, crawlers/traps.py) come from
the PoliteAddon, not from here: settings in this module have project priority and would
silently override the add-on's defaults. Change them per crawl in a recipe's settings or
with -s NAME=VALUE.
"""

from crawlers.recipe import Recipe as _Recipe
from validate import contracts as _contracts

BOT_NAME = "dataagent"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# Named in the User-Agent so site owners can find who crawls them and how to object; the dataset
# cards link the same address. The module is imported under a lower-case name so Scrapy does not read
# its constants as settings.
DATAAGENT_CONTACT_URL = _contracts.PROJECT_URL

ADDONS = {
    "crawlers.polite.PoliteAddon": 0,
    # Scale-out across machines: set DATAAGENT_REDIS_URL and this add-on switches the
    # scheduler and dupefilter to scrapy-redis (docs/SCALEOUT.md).
    "crawlers.scaleout.RedisScaleOut": 100,
}
DATAAGENT_REDIS_URL = ""

# Pages fetched/kept/dropped per second on the terminal (off when DATAAGENT_PROGRESS=0 or stderr is a file).
EXTENSIONS = {"crawlers.progress.CrawlProgress": 500}

ITEM_PIPELINES = {
    "crawlers.pipelines.CanonicalUrlPipeline": 100,
    "crawlers.pipelines.ExactDedupPipeline": 200,
    "crawlers.pipelines.FilterPipeline": 300,
    "crawlers.pipelines.NearDupPipeline": 400,
    "crawlers.pipelines.ContractWriterPipeline": 900,
}

# The pipelines' thresholds, as Scrapy settings so `-s` can change them on any crawl, recipe or not. A recipe's
# min_chars / near_dup_threshold / languages set them with spider priority (above these, below -s); the defaults
# are the Recipe dataclass's, their one home.
DATAAGENT_MIN_CHARS = _Recipe.min_chars
DATAAGENT_NEAR_DUP_THRESHOLD = _Recipe.near_dup_threshold
DATAAGENT_LANGUAGES: list[str] = []

# Where the writer puts documents.*, qa.*, their journals and crawl_stats.json.
DATAAGENT_OUTPUT_DIR = "out/crawl"
# Seconds trafilatura may spend on one page before the page is counted as extract_timeout.
DATAAGENT_EXTRACT_TIMEOUT = 10
# How much of a page trafilatura keeps: precision, balanced (its default) or recall (crawlers/extract.py, MODES).
DATAAGENT_EXTRACT_MODE = "balanced"
# Worker processes that extract pages off the reactor thread (crawlers/workers.py): "auto" is one per core
# less the crawl loop's, at least 1; 0 extracts inline in the crawl process (for debugging).
DATAAGENT_EXTRACT_WORKERS = "auto"

# A dropped page's log line without the page's text (crawlers/pipelines.py): the stats count every drop.
LOG_FORMATTER = "crawlers.pipelines.DropLogFormatter"

CONCURRENT_REQUESTS = 16
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 1
LOG_LEVEL = "INFO"
TELNETCONSOLE_ENABLED = False
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
