"""A loopback Hugging Face Hub for tests: the endpoints ``huggingface_hub`` and ``datasets`` call.

``serve_hub(root_dir, token=...)`` runs a Starlette app (``HubRoutes``: one handler per endpoint) on
127.0.0.1 through ``dataagent.testing.loopback`` and yields a handle with ``.endpoint``; point
``HF_ENDPOINT`` (or ``HfApi(endpoint=...)``) at it. Storage lives under ``root_dir``:

- ``objects/<sha256>``: file contents, content-addressed (LFS uploads land here after a sha256 check);
- ``repos/datasets/<org>/<name>/commits/<commit>.json``: an immutable revision (parent, message, file table);
- ``repos/datasets/<org>/<name>/repo.json``: visibility, branches and tags.

A commit request builds the new file table from the branch head, checks every LFS object is present,
writes the commit file, then replaces ``repo.json`` in one ``os.replace``: ``main`` moves only when the
whole commit succeeded. Writes need ``Authorization: Bearer <token>``; private repos need it to read.
The token is never logged or stored. ``handle.fail(kind, nth, times)`` makes the nth request of a kind
(``preupload``, ``lfs-batch``, ``lfs-upload``, ``commit``, ``tag``) answer 500, for atomicity tests.
Unknown requests answer 404 naming the path and are recorded in ``handle.unknown``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dataagent.testing.loopback import Loopback, serve_app

_LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".zip", ".gz", ".zst")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _injected(what: str) -> JSONResponse:
    response = _error(500, f"injected failure: {what}")
    response.headers["Retry-After"] = "0"  # the client's backoff then waits 1 s a try instead of up to 8
    return response


class _FailError(Exception):
    pass


@dataclass
class HubState:
    root: Path
    token: str
    endpoint: str = ""
    log: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    faults: dict[str, tuple[int, int]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    upload_keys: set[str] = field(default_factory=set)

    # -- fault injection -------------------------------------------------------------------------
    def fail(self, kind: str, nth: int = 1, times: int = 1_000_000) -> None:
        """Answer 500 to requests nth .. nth+times-1 of ``kind`` (counted from now)."""
        with self.lock:
            self.counts[kind] = 0
            self.faults[kind] = (nth, times)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _tick(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] += 1
            nth, times = self.faults.get(kind, (0, 0))
            if nth and nth <= self.counts[kind] < nth + times:
                raise _FailError(kind)

    # -- storage ---------------------------------------------------------------------------------
    def repo_dir(self, repo_type: str, repo_id: str) -> Path:
        return self.root / "repos" / repo_type / repo_id

    def load_repo(self, repo_type: str, repo_id: str) -> dict | None:
        path = self.repo_dir(repo_type, repo_id) / "repo.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def save_repo(self, repo_type: str, repo_id: str, meta: dict) -> None:
        path = self.repo_dir(repo_type, repo_id) / "repo.json"
        tmp = path.with_suffix(f".tmp{secrets.token_hex(4)}")
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        os.replace(tmp, path)  # atomic: readers see the old refs or the new ones, never half

    def load_commit(self, repo_type: str, repo_id: str, sha: str) -> dict:
        path = self.repo_dir(repo_type, repo_id) / "commits" / f"{sha}.json"
        return json.loads(path.read_text(encoding="utf-8"))

    def resolve(self, repo_type: str, repo_id: str, meta: dict, rev: str) -> str | None:
        rev = unquote(rev)
        rev = rev.removeprefix("refs/heads/").removeprefix("refs/tags/")
        if rev in meta["branches"]:
            return meta["branches"][rev]
        if rev in meta["tags"]:
            return meta["tags"][rev]
        if (
            re.fullmatch(r"[0-9a-f]{40}", rev)
            and (self.repo_dir(repo_type, repo_id) / "commits" / f"{rev}.json").exists()
        ):
            return rev
        return None

    def put_object(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        path = self.root / "objects" / oid
        if not path.exists():
            tmp = path.with_name(f"{oid}.tmp{secrets.token_hex(4)}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return oid

    def object_path(self, oid: str) -> Path:
        return self.root / "objects" / oid


def _authorized(state: HubState, request: Request) -> bool | None:
    """True: right token; False: no token; None: a wrong token was sent."""
    header = request.headers.get("authorization", "")
    if not header:
        return False
    return True if secrets.compare_digest(header, f"Bearer {state.token}") else None


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _file_entry(path: str, info: dict, expand: bool = False) -> dict:
    entry = {"type": "file", "path": path, "size": info["size"], "oid": info["git_oid"]}
    if info["lfs"]:
        entry["lfs"] = {"oid": info["sha256"], "size": info["size"], "pointerSize": 134}
    if expand:
        entry["lastCommit"] = {"id": info.get("commit", ""), "title": "", "date": info.get("date", _now())}
    return entry


def _dir_entry(path: str) -> dict:
    return {"type": "directory", "path": path, "size": 0, "oid": git_blob_sha1(path.encode())}


def _card_data(text: str) -> dict | None:
    """The YAML front matter of a dataset card, or None."""
    parts = text.split("---")
    with contextlib.suppress(Exception):
        return yaml.safe_load(parts[1]) if text.startswith("---") and len(parts) > 2 else None
    return None


def _byte_range(header: str, size: int) -> tuple[int, int, int] | None:
    """(start, end, status) for a Range header over ``size`` bytes; None when unsatisfiable (416)."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header)
    if not match or not size:
        return 0, size - 1, 200
    if match.group(1):
        start = int(match.group(1))
        end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
    else:
        start, end = max(0, size - int(match.group(2))), size - 1
    return None if start >= size else (start, end, 206)


class HubRoutes:
    """The Hub's endpoints as one small handler each, over a shared ``HubState``."""

    def __init__(self, state: HubState) -> None:
        self.state = state

    # -- shared checks ---------------------------------------------------------------------------
    def repo_meta(self, request: Request, repo_type: str, repo_id: str, write: bool = False):
        """(meta, None) when the caller may see the repo, else (None, error response)."""
        auth = _authorized(self.state, request)
        if auth is None:
            return None, _error(401, "Invalid credentials in Authorization header")
        meta = self.state.load_repo(repo_type, repo_id)
        if meta is None or (meta["private"] and not auth):
            return None, _error(401 if not auth else 404, "Repository not found", "RepoNotFound")
        if write and not auth:
            return None, _error(401, "Write access needs a token", "RepoNotFound")
        return meta, None

    def writable(self, request: Request, kind: str) -> Response | None:
        """The error for a write the caller may not make, or the injected fault of ``kind``; None to go on."""
        p = request.path_params
        _, err = self.repo_meta(request, p["type"], p["repo"], write=True)
        if err:
            return err
        try:
            self.state._tick(kind)
        except _FailError:
            return _injected(kind.replace("-", " "))
        return None

    def revision(self, request: Request):
        """(commit sha, files) of the request's repo at its ``rev``, or (None, None, error response)."""
        p = request.path_params
        meta, err = self.repo_meta(request, p["type"], p["repo"])
        if err:
            return None, None, err
        sha = self.state.resolve(p["type"], p["repo"], meta, p["rev"])
        if sha is None:
            return None, None, _error(404, "Revision not found", "RevisionNotFound")
        return sha, self.state.load_commit(p["type"], p["repo"], sha)["files"], None

    # -- account and repositories ----------------------------------------------------------------
    async def whoami(self, request: Request) -> Response:
        if _authorized(self.state, request) is not True:
            return _error(401, "Invalid credentials in Authorization header")
        return JSONResponse({"type": "user", "name": "tester", "fullname": "Test User", "orgs": [], "auth": {}})

    async def create_repo(self, request: Request) -> Response:
        state = self.state
        if _authorized(state, request) is not True:
            return _error(401, "Invalid credentials in Authorization header")
        body = await request.json()
        repo_type = body.get("type") or "model"
        repo_type = repo_type if repo_type.endswith("s") else repo_type + "s"
        repo_id = f"{body.get('organization') or 'user'}/{body['name']}"
        url = f"{state.endpoint}/{'' if repo_type == 'models' else repo_type + '/'}{repo_id}"
        private = body.get("visibility") == "private" or bool(body.get("private"))
        with state.lock:
            if state.load_repo(repo_type, repo_id) is not None:
                return JSONResponse({"error": "You already created this repo", "url": url}, status_code=409)
            gitattributes = _file_info(state, b"*.parquet filter=lfs diff=lfs merge=lfs -text\n")
            initial = self.write_commit(repo_type, repo_id, None, "initial commit", {".gitattributes": gitattributes})
            meta = {"private": private, "created": _now(), "branches": {"main": initial}, "tags": {}}
            state.save_repo(repo_type, repo_id, meta)
        return JSONResponse({"url": url, "name": repo_id, "id": repo_id})

    async def info(self, request: Request) -> Response:
        p = request.path_params
        repo_type, repo_id, rev = p["type"], p["repo"], p.get("rev", "main")
        meta, err = self.repo_meta(request, repo_type, repo_id)
        if err:
            return err
        sha = self.state.resolve(repo_type, repo_id, meta, rev)
        if sha is None:
            return _error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        commit = self.state.load_commit(repo_type, repo_id, sha)
        info = {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],  # noqa: S324 - an id, not security
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "lastModified": commit["date"],
            "createdAt": meta["created"],
            "private": meta["private"],
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": [{"rfilename": p} for p in sorted(commit["files"])],
        }
        if "README.md" in commit["files"]:
            card = _card_data(self.state.object_path(commit["files"]["README.md"]["sha256"]).read_text("utf-8"))
            if card is not None:
                info["cardData"] = card
        return JSONResponse(info)

    async def refs(self, request: Request) -> Response:
        p = request.path_params
        meta, err = self.repo_meta(request, p["type"], p["repo"])
        if err:
            return err
        branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": s} for n, s in meta["branches"].items()]
        tags = [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": s} for n, s in meta["tags"].items()]
        return JSONResponse({"branches": branches, "tags": tags, "converts": []})

    async def commits(self, request: Request) -> Response:
        p = request.path_params
        sha, _, err = self.revision(request)
        if err:
            return err
        out = []
        while sha:
            c = self.state.load_commit(p["type"], p["repo"], sha)
            out.append({"id": sha, "title": c["message"], "message": c["message"], "authors": [], "date": c["date"]})
            sha = c["parent"]
        return JSONResponse(out)

    # -- uploads ---------------------------------------------------------------------------------
    async def preupload(self, request: Request) -> Response:
        p = request.path_params
        refused = self.writable(request, "preupload")
        if refused:
            return refused
        body = await request.json()
        meta = self.state.load_repo(p["type"], p["repo"])
        sha = self.state.resolve(p["type"], p["repo"], meta, p["rev"])
        files = self.state.load_commit(p["type"], p["repo"], sha)["files"] if sha else {}
        return JSONResponse({"files": [_upload_mode(f, files) for f in body.get("files", [])], "commitOid": sha})

    async def lfs_batch(self, request: Request) -> Response:
        refused = self.writable(request, "lfs-batch")
        if refused:
            return refused
        body = await request.json()
        objects = []
        for obj in body.get("objects", []):
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self.state.object_path(obj["oid"]).exists():
                key = secrets.token_hex(16)  # a one-use upload key: the PUT carries no Authorization header
                with self.state.lock:
                    self.state.upload_keys.add(key)
                entry["actions"] = {"upload": {"href": f"{self.state.endpoint}/_lfs/upload/{obj['oid']}?key={key}"}}
            objects.append(entry)
        return JSONResponse({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    async def lfs_upload(self, request: Request) -> Response:
        state = self.state
        oid = request.path_params["oid"]
        key = request.query_params.get("key", "")
        with state.lock:
            if key not in state.upload_keys:
                return _error(403, "Bad upload key")
        try:
            state._tick("lfs-upload")
        except _FailError:
            return _injected("lfs upload")
        data = await request.body()
        if hashlib.sha256(data).hexdigest() != oid:
            return _error(400, "sha256 mismatch")
        state.put_object(data)
        with state.lock:
            state.upload_keys.discard(key)
        return Response(status_code=200)

    async def commit(self, request: Request) -> Response:
        state, p = self.state, request.path_params
        repo_type, repo_id, branch = p["type"], p["repo"], unquote(p["rev"])
        refused = self.writable(request, "commit")
        if refused:
            return refused
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        with state.lock:
            meta = state.load_repo(repo_type, repo_id)
            if branch not in meta["branches"]:
                return _error(404, f"Branch not found: {branch}", "RevisionNotFound")
            parent = meta["branches"][branch]
            files = dict(state.load_commit(repo_type, repo_id, parent)["files"])
            header, failed = self.apply_operations(lines, files, parent)
            if failed:
                return failed
            sha = self.write_commit(repo_type, repo_id, parent, header.get("summary", ""), files)
            meta["branches"][branch] = sha
            state.save_repo(repo_type, repo_id, meta)  # the one step that makes the revision visible
        prefix = "" if repo_type == "models" else f"/{repo_type}"
        return JSONResponse(
            {"commitUrl": f"{state.endpoint}{prefix}/{repo_id}/commit/{sha}", "commitOid": sha, "success": True}
        )

    def apply_operations(self, lines: list[dict], files: dict, parent: str) -> tuple[dict, Response | None]:
        """Apply a commit's NDJSON operations to ``files`` in place: (header, None) or (header, error)."""
        header: dict = {}
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
                if value.get("parentCommit") and value["parentCommit"] != parent:
                    return header, _error(412, "A commit has happened since. Please refresh and try again.")
            elif key == "file":
                encoded = value.get("encoding") == "base64"
                data = base64.b64decode(value["content"]) if encoded else value["content"].encode()
                files[value["path"]] = _file_info(self.state, data)
            elif key == "lfsFile":
                path = self.state.object_path(value["oid"])
                if not path.exists():
                    return header, _error(422, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = _lfs_info(value["oid"], path.stat().st_size)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for name in [k for k in files if k.startswith(prefix)]:
                    del files[name]
            else:
                return header, _error(400, f"Unknown commit operation {key}")
        return header, None

    def write_commit(self, repo_type: str, repo_id: str, parent: str | None, message: str, files: dict) -> str:
        """Store an immutable commit and return its id; no branch points at it yet."""
        new = {"id": "", "parent": parent, "message": message, "date": _now(), "files": files}
        sha = _commit_id(new)
        new["id"] = sha
        for info in files.values():
            info.setdefault("commit", sha)
            info.setdefault("date", new["date"])
        commits = self.state.repo_dir(repo_type, repo_id) / "commits"
        commits.mkdir(parents=True, exist_ok=True)
        (commits / f"{sha}.json").write_text(json.dumps(new), encoding="utf-8")
        return sha

    async def tag(self, request: Request) -> Response:
        state, p = self.state, request.path_params
        refused = self.writable(request, "tag")
        if refused:
            return refused
        body = await request.json()
        with state.lock:
            meta = state.load_repo(p["type"], p["repo"])
            sha = state.resolve(p["type"], p["repo"], meta, p["rev"])
            if sha is None:
                return _error(404, "Revision not found", "RevisionNotFound")
            if body["tag"] in meta["tags"]:
                return _error(409, f"Tag {body['tag']} already exists")
            meta["tags"][body["tag"]] = sha
            state.save_repo(p["type"], p["repo"], meta)
        return JSONResponse({})

    # -- reads -----------------------------------------------------------------------------------
    async def tree(self, request: Request) -> Response:
        _, files, err = self.revision(request)
        if err:
            return err
        base = unquote(request.path_params.get("path", "")).strip("/")
        recursive = _flag(request.query_params.get("recursive"))
        expand = _flag(request.query_params.get("expand"))
        prefix = base + "/" if base else ""
        if base and base in files:
            return _error(404, f"{base} is a file", "EntryNotFound")
        out, dirs = [], set()
        for path in sorted(files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :].split("/")
            for depth in range(1, len(rest)):
                if recursive or depth == 1:
                    dirs.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                out.append(_file_entry(path, files[path], expand))
        if base and not out and not dirs:
            return _error(404, f"{base} does not exist", "EntryNotFound")
        return JSONResponse([_dir_entry(d) for d in sorted(dirs)] + out)

    async def paths_info(self, request: Request) -> Response:
        _, files, err = self.revision(request)
        if err:
            return err
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
            paths, expand = body.get("paths", []), bool(body.get("expand"))
        else:
            form = await request.form()
            paths, expand = form.getlist("paths"), form.get("expand") in ("True", "true", "1")
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(_file_entry(path, files[path], expand))
            elif any(f.startswith(path + "/") for f in files) or path == "":
                out.append(_dir_entry(path))
        return JSONResponse(out)

    async def resolve(self, request: Request) -> Response:
        sha, files, err = self.revision(request)
        if err:
            return err
        path = unquote(request.path_params["path"])
        if path not in files:
            return _error(404, f"Entry not found: {path}", "EntryNotFound")
        info = files[path]
        etag = info["sha256"] if info["lfs"] else info["git_oid"]
        size = info["size"]
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if info["lfs"]:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(size)
        span = _byte_range(request.headers.get("range", ""), size)
        if span is None:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        start, end, status = span
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1 if size else 0)
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers)
        with self.state.object_path(info["sha256"]).open("rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1) if size else b""
        return Response(body, status_code=status, headers=headers, media_type="application/octet-stream")

    # -- the rest ------------------------------------------------------------------------------
    async def validate_yaml(self, request: Request) -> Response:
        body = await request.json()
        text = body.get("content", "")
        if text.startswith("---"):
            parts = text.split("---")
            try:
                meta = yaml.safe_load(parts[1]) if len(parts) > 2 else None
            except yaml.YAMLError as exc:
                return _error(400, f"Invalid YAML in card metadata: {exc}")
            if meta is not None and not isinstance(meta, dict):
                return _error(400, "Card metadata must be a mapping")
        return JSONResponse({"errors": [], "warnings": []})

    async def agent_harnesses(self, request: Request) -> Response:
        return JSONResponse({"standardEnvVars": [], "harnesses": {}})

    async def unknown(self, request: Request) -> Response:
        text = f"{request.method} {request.url.path}"
        self.state.unknown.append(text)
        return _error(404, f"loopback hub: no route for {text}")

    def routes(self) -> list[Route]:
        repo_routes = [
            ("/api/{t}/{{repo:path}}/revision/{{rev}}", self.info, ["GET"]),
            ("/api/{t}/{{repo:path}}/refs", self.refs, ["GET"]),
            ("/api/{t}/{{repo:path}}/commits/{{rev}}", self.commits, ["GET"]),
            ("/api/{t}/{{repo:path}}/preupload/{{rev}}", self.preupload, ["POST"]),
            ("/api/{t}/{{repo:path}}/commit/{{rev}}", self.commit, ["POST"]),
            ("/api/{t}/{{repo:path}}/tag/{{rev}}", self.tag, ["POST"]),
            ("/api/{t}/{{repo:path}}/tree/{{rev}}/{{path:path}}", self.tree, ["GET"]),
            ("/api/{t}/{{repo:path}}/tree/{{rev}}", self.tree, ["GET"]),
            ("/api/{t}/{{repo:path}}/paths-info/{{rev}}", self.paths_info, ["POST"]),
            ("/{t}/{{repo:path}}.git/info/lfs/objects/batch", self.lfs_batch, ["POST"]),
            ("/{t}/{{repo:path}}/resolve/{{rev}}/{{path:path}}", self.resolve, ["GET", "HEAD"]),
            ("/api/{t}/{{repo:path}}", self.info, ["GET"]),
        ]
        routes = [
            Route("/api/repos/create", self.create_repo, methods=["POST"]),
            Route("/api/whoami-v2", self.whoami, methods=["GET"]),
            Route("/api/validate-yaml", self.validate_yaml, methods=["POST"]),
            Route("/api/agent-harnesses", self.agent_harnesses, methods=["GET"]),
            Route("/_lfs/upload/{oid}", self.lfs_upload, methods=["PUT", "POST"]),
        ]
        for repo_type in ("datasets", "models"):
            for pattern, endpoint, methods in repo_routes:
                # Model repos live at the root on the Hub (/org/name/resolve/...), datasets under /datasets/.
                path = pattern.format(t=repo_type)
                if repo_type == "models" and not path.startswith("/api/"):
                    path = path.removeprefix("/models")
                routes.append(_typed_route(path, endpoint, methods, repo_type))
        methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
        return [*routes, Route("/{rest:path}", self.unknown, methods=methods)]


def build_app(state: HubState):
    """The Hub as an ASGI app that logs each request's method and path (never headers or query)."""
    app = Starlette(routes=HubRoutes(state).routes())

    async def logged(scope, receive, send):
        if scope["type"] == "http":
            state.log.append(f"{scope['method']} {scope['path']}")
        await app(scope, receive, send)

    return logged


def _upload_mode(f: dict, files: dict) -> dict:
    # Large, binary or columnar files go through LFS, as the Hub decides from the preupload sample.
    sample = base64.b64decode(f.get("sample", ""))
    lfs = f["path"].endswith(_LFS_SUFFIXES) or f.get("size", 0) > 10_000_000 or b"\0" in sample
    remote = files.get(f["path"])
    oid = None
    if remote is not None and remote["lfs"] == lfs:
        oid = remote["sha256"] if lfs else remote["git_oid"]
    return {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}


def _lfs_info(oid: str, size: int) -> dict:
    return {"sha256": oid, "git_oid": git_blob_sha1(_lfs_pointer(oid, size)), "size": size, "lfs": True}


def _typed_route(path: str, endpoint, methods: list[str], repo_type: str) -> Route:
    async def wrapped(request: Request) -> Response:
        request.path_params["type"] = repo_type
        return await endpoint(request)

    return Route(path, wrapped, methods=methods)


def _lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def _file_info(state: HubState, data: bytes) -> dict:
    return {"sha256": state.put_object(data), "git_oid": git_blob_sha1(data), "size": len(data), "lfs": False}


def _commit_id(commit: dict) -> str:
    return hashlib.sha1(json.dumps(commit, sort_keys=True).encode() + secrets.token_bytes(8)).hexdigest()  # noqa: S324


class HubHandle:
    """What ``serve_hub`` yields: ``endpoint``, ``root``, ``token``, the request ``log`` and fault injection."""

    def __init__(self, state: HubState, loopback: Loopback) -> None:
        self.state, self.loopback = state, loopback
        self.endpoint, self.root = state.endpoint, state.root

    @property
    def log(self) -> list[str]:
        return self.state.log

    @property
    def unknown(self) -> list[str]:
        return self.state.unknown

    def fail(self, kind: str, nth: int = 1, times: int = 1_000_000) -> None:
        self.state.fail(kind, nth, times)

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def refs(self, repo_id: str, repo_type: str = "datasets") -> dict:
        meta = self.state.load_repo(repo_type, repo_id) or {}
        return {"branches": meta.get("branches", {}), "tags": meta.get("tags", {})}


@contextlib.contextmanager
def serve_hub(root_dir: str | Path, token: str) -> Iterator[HubHandle]:
    """Run the loopback Hub on a free 127.0.0.1 port; yields a ``HubHandle``."""
    root = Path(root_dir)
    (root / "objects").mkdir(parents=True, exist_ok=True)
    (root / "repos").mkdir(parents=True, exist_ok=True)
    state = HubState(root=root, token=token)
    with serve_app(build_app(state), name="loopback-hub") as loopback:
        state.endpoint = loopback.url  # read per request, and no request can arrive before the handle exists
        yield HubHandle(state, loopback)
