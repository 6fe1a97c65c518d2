"""Bundled sample inputs: a small bilingual website and a small code repository."""

from pathlib import Path

SAMPLES = Path(__file__).parent
SITE_DIR = SAMPLES / "site"
REPO_DIR = SAMPLES / "repo"
