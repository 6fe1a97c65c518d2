"""Push a folder written by ``validate.publish.write_dataset_folder`` (data, card and exports) to a Hugging Face Hub.

The token comes only from the ``HF_TOKEN`` environment variable: it is never a parameter, never
printed, and never written anywhere by this module. The whole folder goes up in ONE commit (with the
current head as parent commit), so readers of ``main`` see the previous version or the new one, never
a mix; the commit is then tagged ``v1``, ``v2``, ... (or the version given).

Set ``HF_ENDPOINT`` (and, for servers without Xet storage, ``HF_HUB_DISABLE_XET=1``) before
``huggingface_hub`` is first imported for the library-wide default; ``endpoint=`` here is passed to
``HfApi`` explicitly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from validate.errors import DataAgentError
from validate.outdir import MANIFEST

_VERSION = re.compile(r"^v(\d+)$")


def _token() -> str:
    token = os.environ.get("HF_TOKEN", "").strip()
    if not token:
        raise DataAgentError("HF_TOKEN is not set: export a Hugging Face write token as HF_TOKEN to publish")
    return token


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def next_version(tags: list[str]) -> str:
    """``v<n+1>`` for the highest ``v<n>`` among ``tags`` (``v1`` when there is none)."""
    numbers = [int(m.group(1)) for t in tags if (m := _VERSION.match(t))]
    return f"v{max(numbers, default=0) + 1}"


def push_dataset(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    version: str | None = None,
    endpoint: str | None = None,
) -> dict:
    """Create ``repo_id`` if needed, upload ``folder`` in one commit, tag it; returns what was published."""
    folder = Path(folder)
    if not (folder / "README.md").is_file() or not (folder / "data").is_dir():
        raise DataAgentError("not a published dataset folder (README.md and data/ expected)", folder)
    token = _token()
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        tags = [t.name for t in refs.tags]
        version = version or next_version(tags)
        if version in tags:
            raise DataAgentError(f"{repo_id}: version tag {version} already exists")
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=folder,
            commit_message=f"Publish {version}",
            # Old shards and exports go in the same commit the new ones arrive in (a split may be gone).
            delete_patterns=["data/*", "exports/*"],
            ignore_patterns=[".cache/*", "*.lock", MANIFEST],  # our run bookkeeping is not data
            parent_commit=head,
        )
    except (HfHubHTTPError, RuntimeError, OSError, ValueError) as exc:
        # One line, from the error and its cause (an upload error wraps the HTTP one); main was not moved.
        reasons = [_first_line(e) for e in (exc, exc.__cause__) if e is not None]
        raise DataAgentError(f"publishing {repo_id} failed, nothing was published: {'; '.join(reasons)}") from None
    try:
        api.create_tag(repo_id, tag=version, revision=commit.oid, repo_type="dataset", tag_message=version)
    except HfHubHTTPError as exc:
        raise DataAgentError(
            f"{repo_id}: commit {commit.oid} is on main but tagging it {version} failed: {_first_line(exc)}"
        ) from None
    return {
        "repo_id": repo_id,
        "url": str(repo_url),
        "version": version,
        "commit": commit.oid,
        "private": private,
        "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST),
    }
