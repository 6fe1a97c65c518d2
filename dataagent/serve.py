"""`dataagent demo --serve`: the bundled sample site on loopback, to try `scrapy crawl` on by hand.

Kept apart from the demo so serving loads neither the trainer nor the gate.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from crawlers.recipe import BASE_URL, RECIPES_DIR
from dataagent.samples import SITE_DIR
from dataagent.site_server import SiteServer

SAMPLE_RECIPE = RECIPES_DIR / "sample_site.yaml"


def sample_recipe(base_url: str) -> str:
    """The bundled sample recipe with the site's address filled in (its URLs say __BASE_URL__ until served)."""
    return SAMPLE_RECIPE.read_text(encoding="utf-8").replace(BASE_URL, base_url)


def serve_sample_site(port: int = 0) -> None:
    """Serve the bundled sample site on loopback until Ctrl-C, and print how to crawl it with Scrapy."""
    with SiteServer(SITE_DIR, port) as site, tempfile.TemporaryDirectory(prefix="dataagent-sample-") as tmp:
        recipe = Path(tmp) / "sample_site.yaml"
        recipe.write_text(sample_recipe(site.base_url), encoding="utf-8")
        # `scrapy` finds the project through scrapy.cfg in the repository root; anywhere else it needs the module.
        scrapy = "scrapy" if Path("scrapy.cfg").is_file() else "SCRAPY_SETTINGS_MODULE=crawlers.settings scrapy"
        lines = [
            f"Serving the bundled sample site at {site.base_url}/ (Ctrl-C to stop).",
            "",
            "Crawl it from the start page, following its sitemap and links:",
            f"  {scrapy} crawl site -a start_url={site.base_url}/index.html -s DATAAGENT_OUTPUT_DIR=out/sample-crawl",
            "",
            "or with the sample recipe (languages, length limit, licence), filled in with this address:",
            f"  {scrapy} crawl site -a recipe={recipe} -s DATAAGENT_OUTPUT_DIR=out/sample-crawl",
            f"  dataagent crawl {recipe} --out out/sample-crawl",
            "",
            f"The recipe file lasts while this server runs; {SAMPLE_RECIPE} with -a base_url={site.base_url} "
            "does the same.",
        ]
        print("\n".join(lines), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped", flush=True)
