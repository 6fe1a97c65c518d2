"""Fetching and preparing real projects for the truth modules (``bench/truth_<lang>.py``).

Projects come from registries the developers' machines reach (Debian packages, PyPI), pinned to exact
versions, unpacked once into ``out/code_truth/<lang>/`` and reused. A file the language's own parser rejects
(deliberately broken test data, another dialect) has no truth to compare with, so it is moved out of the
project into a ``rejected/`` folder beside it and counted, rather than scored as if it had no functions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

PREPARED = ".prepared.json"  # written last: a project without it is unpacked again


def ensure_tool(command: str, apt_packages: list[str]) -> None:
    """Install the Debian packages that provide ``command`` when it is missing (the machines run as root)."""
    if not shutil.which(command):
        apt_install(apt_packages)


def apt_install(apt_packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(apt_packages)}", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-q", *apt_packages], check=True, env=env, stdout=subprocess.DEVNULL)


def debian_package(cache: Path, package: str, version: str) -> tuple[Path, str]:
    """``apt-get download package=version`` unpacked with ``dpkg-deb -x``: (folder, version actually used).

    Debian replaces a version when a point release or security update lands (the JDK's source package
    changes every quarter); then the candidate version is taken and named, so the run still says what
    it measured.
    """
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        got = subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=cache, capture_output=True)
        if got.returncode != 0:
            print(f"{package}={version} is gone from the archive; taking the candidate version", file=sys.stderr)
            subprocess.run(["apt-get", "download", package], cwd=cache, check=True, capture_output=True)
        debs = sorted(cache.glob(f"{package}_*.deb"))
    deb = debs[-1]
    used = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True)
    dest = cache / f"{package}_{used.stdout.strip()}".replace(":", "_").replace("~", "_")
    if not (dest / "deb").is_dir():
        tmp = dest.parent / f"{dest.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "deb").mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "deb")], check=True)
        tmp.rename(dest)
    return dest, used.stdout.strip()


def cache_of(root: Path) -> Path:
    """The language cache a project root from ``debian_package`` lies in: ``<cache>/<package>_<version>/deb/...``."""
    return next(p.parent.parent for p in root.parents if p.name == "deb")


def prepared(base: Path) -> dict | None:
    """What ``set_aside`` recorded for a project folder, or None when it was not prepared yet."""
    marker = base / PREPARED
    return json.loads(marker.read_text()) if marker.exists() else None


def set_aside(base: Path, root: Path, files: list[str], rejects: Callable[[list[str]], dict[str, str]]) -> dict:
    """Move the files the language's parser rejects from ``root`` to ``base/rejected`` once; returns the record.

    ``rejects`` maps each rejected file to the parser's first error line. The record (kept in
    ``base/.prepared.json``) names them, so a reader can see what was left out and why.
    """
    done = prepared(base)
    if done is not None:
        return done
    bad = rejects(files)
    for rel in bad:
        target = base / "rejected" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root / rel), target)
    record = {"files": len(files), "rejected": dict(sorted(bad.items()))}
    (base / PREPARED).write_text(json.dumps(record, indent=1))
    return record


def json_lines(command: list[str], files: list[str], cwd: Path | None = None, env: dict | None = None) -> list[dict]:
    """Run a truth program that reads file paths on stdin and prints one JSON object per line."""
    proc = subprocess.run(
        command, input="\n".join(files) + "\n", capture_output=True, text=True, cwd=cwd, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
