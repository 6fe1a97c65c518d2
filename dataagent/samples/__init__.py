"""Bundled sample inputs: a small bilingual website and a small code repository."""

import shutil
import subprocess
from pathlib import Path

SAMPLES = Path(__file__).parent
SITE_DIR = SAMPLES / "site"
REPO_DIR = SAMPLES / "repo"


def make_sample_repo(dest: Path) -> Path:
    """Copy the bundled sources into ``dest`` and commit them, so extraction reads a real git repo."""
    shutil.copytree(REPO_DIR, dest, ignore=shutil.ignore_patterns("__pycache__"))
    ident = ["-c", "user.name=DataAgent demo", "-c", "user.email=demo@dataagent.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], [*ident, "commit", "-q", "-m", "sample repo"]):
        subprocess.run(["git", "-C", str(dest), *args], check=True, capture_output=True)
    return dest
