"""Output folders that are never cleared blindly.

A stage writes into ``--out``; a rerun must not leave stale files of the last run behind, and
must never delete what the user (or another tool) put there. So each folder we write gets a
manifest listing the files we created. On the next run only those files are removed; a
non-empty folder without our manifest is refused unless the caller forces it, and even then
nothing in it is deleted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from validate.errors import DataAgentError

MANIFEST = ".dataagent-manifest.json"


def _files(root: Path) -> set[str]:
    """Relative paths of the regular files and links below ``root``; links are never followed."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        # A link to a folder is listed as a name, not walked: it may point outside the output.
        found.update(str((base / d).relative_to(root)) for d in dirnames if (base / d).is_symlink())
        found.update(str((base / f).relative_to(root)) for f in filenames)
    return found - {MANIFEST}


def _read_manifest(out: Path) -> dict:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataAgentError(
            f"unreadable output manifest ({exc.__class__.__name__}); remove it by hand", out / MANIFEST
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise DataAgentError("output manifest is not one of ours; remove it by hand", out / MANIFEST)
    return data


def _inside(root: Path, rel: str) -> Path | None:
    """The path of ``rel`` if it stays inside ``root`` (a hand-edited manifest must not reach elsewhere)."""
    path = root / rel
    try:
        path.parent.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return None
    return path


def _kept(rel: str, keep: tuple[str, ...]) -> bool:
    # A prefix, so a cache's companions (SQLite's -wal/-shm files) stay with it.
    return bool(keep) and rel.split("/", 1)[0].startswith(keep)


def _remove_listed(out: Path, listed: list[str], keep: tuple[str, ...]) -> None:
    for rel in listed:
        if _kept(rel, keep):
            continue
        path = _inside(out, rel)
        if path is not None and (path.is_file() or path.is_symlink()):
            path.unlink()
    # Folders left empty by that removal were ours too; user folders with content stay.
    for rel in sorted({str(Path(r).parent) for r in listed if not _kept(r, keep)}, key=len, reverse=True):
        path = _inside(out, rel)
        while path is not None and path != out and path.is_dir() and not any(path.iterdir()):
            path.rmdir()
            path = path.parent


@contextmanager
def owned_output(out: str | Path, *, force: bool = False, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Claim ``out`` for one run; yields it as a Path.

    - ``out`` is a file: refused.
    - ``out`` is a non-empty folder with no manifest of ours: refused, unless ``force`` (then
      written into; nothing there is removed).
    - ``out`` holds our manifest: the files it lists are removed first (the last run's output),
      except top-level names starting with one in ``keep`` (caches a rerun should reuse).

    On exit, even after an error, the manifest lists every file that was not there before the
    run plus the kept ones, so a crashed run's partial output is still ours to clean up.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataAgentError("--out is a file, not a folder", out)
    ours: list[str] = []
    if out.is_dir() and (out / MANIFEST).exists():
        ours = _read_manifest(out)["files"]
        _remove_listed(out, ours, keep)
    elif out.is_dir() and any(out.iterdir()) and not force:
        raise DataAgentError(
            "--out is a folder that holds files DataAgent did not write; choose an empty or new folder, "
            "or pass --force to write into it (nothing there is deleted)",
            out,
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataAgentError("a part of the --out path is a file", out) from None
    except PermissionError:
        raise DataAgentError("permission denied creating the output folder", out) from None
    foreign = _files(out) - set(ours)
    try:
        yield out
    finally:
        created = sorted(_files(out) - foreign) if out.is_dir() else []
        if out.is_dir():
            try:
                (out / MANIFEST).write_text(json.dumps({"files": created}, indent=1) + "\n", encoding="utf-8")
            except OSError:
                pass  # a read-only folder already failed the run with a clearer error; don't mask it
