"""Git side of code extraction: get a checkout, its commit, its files and its licence."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from validate.errors import DataAgentError

_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "COPYING.txt", "LICENCE")
# Ordered: the first pattern that matches the licence text names its SPDX id.
_SPDX_PATTERNS = [
    ("Apache-2.0", r"Apache License,?\s+Version 2\.0"),
    ("MIT", r"Permission is hereby granted, free of charge"),
    ("BSD-3-Clause", r"Neither the name of .{0,80} nor the names of its\s+contributors"),
    ("BSD-2-Clause", r"Redistributions in binary form must reproduce"),
    ("GPL-3.0", r"GNU GENERAL PUBLIC LICENSE\s+Version 3"),
    ("GPL-2.0", r"GNU GENERAL PUBLIC LICENSE\s+Version 2"),
    ("LGPL-3.0", r"GNU LESSER GENERAL PUBLIC LICENSE\s+Version 3"),
    ("MPL-2.0", r"Mozilla Public License,?\s+(v\. |Version )2\.0"),
    ("PSF-2.0", r"PYTHON SOFTWARE FOUNDATION LICENSE"),
    ("Unlicense", r"This is free and unencumbered software released into the public domain"),
]


@dataclass
class Checkout:
    repo: str
    root: Path
    commit: str
    license: str


def _git(root: Path | None, *args: str) -> str:
    cmd = ["git", *(["-C", str(root)] if root else []), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DataAgentError(f"git {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout


def open_checkout(repo: str, workdir: str | Path | None = None) -> Checkout:
    """A local path is read in place; anything else is shallow-cloned into ``workdir``."""
    local = Path(repo)
    if local.is_dir():
        root = Path(_git(local, "rev-parse", "--show-toplevel").strip())
    else:
        dest = Path(tempfile.mkdtemp(prefix="dataagent-clone-", dir=workdir))
        _git(None, "clone", "--depth", "1", "--quiet", repo, str(dest))
        root = dest
    if not _has_commit(root):
        raise DataAgentError(f"{repo}: repository has no commits")
    commit = _git(root, "rev-parse", "HEAD").strip()
    return Checkout(repo=repo, root=root, commit=commit, license=detect_license(root))


def _has_commit(root: Path) -> bool:
    return (
        subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True).returncode
        == 0
    )


def list_files(root: Path) -> list[tuple[str, str]]:
    """(path, git mode) of tracked files; git itself applies .gitignore, so ignored files never appear.

    The mode tells submodules (160000) and symlinks (120000) from regular files without
    touching the file system, so a link is never followed out of the repository.
    """
    out = _git(root, "ls-files", "-z", "--cached", "--stage")
    files = []
    for entry in out.split("\0"):
        if entry:
            meta, _, path = entry.partition("\t")
            files.append((path, meta.split()[0]))
    return sorted(files)


def detect_license(root: Path) -> str:
    """SPDX id of the repository licence file, or 'unknown'."""
    for name in _LICENSE_FILES:
        path = root / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")[:20000]
            for spdx, pattern in _SPDX_PATTERNS:
                if re.search(pattern, text, flags=re.IGNORECASE):
                    return spdx
            return "unknown"
    return "unknown"
