"""Scrapy settings for the DataAgent crawlers: polite, reproducible defaults."""

BOT_NAME = "dataagent"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# A user agent that names the project lets site owners find us and complain.
DATAAGENT_CONTACT_URL = "https://github.com/dataagent/dataagent"
USER_AGENT = f"DataAgent/0.1 (+{DATAAGENT_CONTACT_URL})"

ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 1

# Scale-out across machines: set DATAAGENT_REDIS_URL and the add-on switches the
# scheduler and dupefilter to scrapy-redis (see docs/CRAWLING.md).
ADDONS = {"crawlers.scaleout.RedisScaleOut": 100}
DATAAGENT_REDIS_URL = ""

ITEM_PIPELINES = {
    "crawlers.pipelines.ContentHashPipeline": 100,
    "crawlers.pipelines.ContractWriterPipeline": 900,
}

# Where the writer puts documents.jsonl/.parquet, qa.jsonl/.parquet and crawl_stats.json.
DATAAGENT_OUTPUT_DIR = "out/crawl"

LOG_LEVEL = "INFO"
TELNETCONSOLE_ENABLED = False
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
