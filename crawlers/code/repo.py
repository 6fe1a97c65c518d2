"""Git side of code extraction: get a checkout, its commit, its files and its licence."""

from __future__ import annotations

import os
import re
import shutil
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


# Variables a git hook or a wrapper may have set: they would point every `git -C` at another repository.
_GIT_ENV_OVERRIDES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR")
# scp-like clone address, `user@host:path` or `host:path`: a colon before any slash (git's own rule).
_SCP_LIKE = re.compile(r"^[^/]*:")


def _git(root: Path | None, *args: str, where: str | Path | None = None) -> bytes:
    """Run git and return its raw stdout: paths in it are bytes, not necessarily UTF-8."""
    # core.fsmonitor names a program git runs on ls-files/status: a repository's own
    # config must not get to run code just because we read it.
    cmd = ["git", "-c", "core.fsmonitor=false", *(["-C", str(root)] if root else []), *args]
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_OVERRIDES}
    env["GIT_TERMINAL_PROMPT"] = "0"  # a clone that wants a password fails instead of waiting forever
    proc = subprocess.run(cmd, capture_output=True, env=env, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DataAgentError(
            f"git {args[0]} failed: {lines[-1] if lines else f'exit {proc.returncode}'}", where or root
        )
    return proc.stdout


def looks_local(repo: str) -> bool:
    """A path to read in place rather than an address to clone (`https://...`, `git@host:owner/name`)."""
    if repo.startswith(("/", ".", "~")):
        return True
    return "://" not in repo and not _SCP_LIKE.match(repo)


def open_checkout(repo: str, workdir: str | Path | None = None) -> Checkout:
    """A local path is read in place; anything else is shallow-cloned into ``workdir``.

    A local folder inside a larger checkout reads that checkout, as git itself would.
    """
    if looks_local(repo):
        local = Path(repo).expanduser()
        if not local.exists():
            # Told apart here: handing a missing path to `git clone` gives a confusing clone error.
            raise DataAgentError("no such file or directory", repo)
        if not local.is_dir():
            raise DataAgentError("not a directory", repo)
        try:
            top = _git(local, "rev-parse", "--show-toplevel", where=repo)
        except DataAgentError as exc:
            if "not a git repository" in str(exc):
                raise DataAgentError("not a git repository", repo) from None
            raise
        root = Path(os.fsdecode(top.removesuffix(b"\n")))  # only the newline: a name may end in a space
    else:
        root = Path(tempfile.mkdtemp(prefix="dataagent-clone-", dir=workdir))
        try:
            _git(None, "clone", "--depth", "1", "--quiet", "--", repo, str(root), where=repo)
        except DataAgentError:
            shutil.rmtree(root, ignore_errors=True)
            raise
    if not _has_commit(root):
        raise DataAgentError("repository has no commits", repo)
    commit = _git(root, "rev-parse", "HEAD").decode("ascii").strip()
    return Checkout(repo=repo, root=root, commit=commit, license=detect_license(root))


def _has_commit(root: Path) -> bool:
    try:
        _git(root, "rev-parse", "--verify", "-q", "HEAD")
    except DataAgentError:
        return False
    return True


def list_files(root: Path) -> list[tuple[str, str]]:
    """(path, git mode) of tracked files; git itself applies .gitignore, so ignored files never appear.

    Paths are ``os.fsdecode``d: a name that is not UTF-8 keeps its bytes as surrogate escapes,
    so it still opens; ``display_path`` makes the text that goes into records.
    The mode tells submodules (160000) and symlinks (120000) from regular files without
    touching the file system, so a link is never followed out of the repository.
    """
    out = _git(root, "ls-files", "-z", "--cached", "--stage")
    files: dict[str, str] = {}
    for entry in out.split(b"\0"):
        if entry:
            meta, _, path = entry.partition(b"\t")
            # setdefault: a path in a merge conflict is listed once per stage; read it once.
            files.setdefault(os.fsdecode(path), meta.split()[0].decode("ascii"))
    return sorted(files.items())


def display_path(path: str) -> str:
    """Valid UTF-8 text for a path from ``list_files``: bytes that are not UTF-8 read as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def detect_license(root: Path) -> str:
    """SPDX id of the repository licence file, or 'unknown'."""
    for name in _LICENSE_FILES:
        path = root / name
        # Not a link (it may point anywhere, /dev/zero included); only the head is read.
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as fh:
                text = fh.read(20000).decode("utf-8", "replace")
            for spdx, pattern in _SPDX_PATTERNS:
                if re.search(pattern, text, flags=re.IGNORECASE):
                    return spdx
            return "unknown"
    return "unknown"
