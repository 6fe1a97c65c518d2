"""JavaScript and TypeScript truth from the TypeScript compiler's own parser (npm ``typescript``).

What counts, at any depth, in every file the compiler parses without a syntax error:

* ``FunctionDeclaration`` (named), ``MethodDeclaration`` (classes and object literals), ``Constructor`` (named
  ``constructor``), ``GetAccessor`` / ``SetAccessor`` -- each only with a body (overloads, abstract and
  ``declare`` members are signatures, not code);
* a ``FunctionExpression`` or ``ArrowFunction`` that is the value of something that names it: a
  ``VariableDeclaration`` (``const f = () => {}``), a ``PropertyAssignment`` in an object literal
  (``{ f: function () {} }``), a ``PropertyDeclaration`` in a class (``handle = () => {}``) or an ``=``
  assignment (``a.b.c = function () {}`` names it ``c``; ``a['c']`` too). ``module.exports = function f() {}``
  takes the function's own name, ``exports`` when it has none. Callbacks, IIFEs and returned functions
  are named by nothing and are not counted.

Names are as written: string keys without quotes, computed keys with their brackets (``[Symbol.iterator]``),
private names with their ``#``. The line is the 1-based line of the name (for a function value, of the
name it is assigned to), counted in ``\\n`` as the extractor counts them.

The doc is the text of the last JSDoc block the compiler attaches to the function or to what declares it
(the variable statement for the first declarator of a ``var``/``const``, the property, the statement of
an assignment; the parser's ``jsDoc`` nodes, which ``ts.getJSDocCommentsAndTags`` reads), without ``/**``,
``*/`` and the ``*`` margin of each line; "" when it attaches none. The extractor takes plain ``//`` and
``/* */`` comments as docs too, where the compiler sees none, so where the comment nearest the function is
a plain one (alone, or between a JSDoc block and the function, making that block a section header) the
truth has no opinion (``None``).

Sources are npm packages that ship their sources, ``npm pack name@version``, unpacked once into
``out/code_truth/js/packages/``. Build copies of the same code (``dist/``, UMD bundles) are removed so each
function is counted once. Type declarations (``.d.ts``) have no bodies and add nothing to either side.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from code_truth import Project, Truth, source_files  # noqa: E402
from truth_fetch import json_lines, set_aside  # noqa: E402

LANGS = ("javascript", "typescript")
TYPESCRIPT = "typescript@5.9.3"  # 5.x: the compiler's JavaScript API (7.x is the native port without one)
_ALL_LANGS = ("javascript", "typescript", "tsx")


# (npm spec, lang, folder the project is rooted at, paths removed as build copies, what, dev)
_SOURCES = [
    ("jquery@3.7.1", "javascript", "src", [],
     "jQuery's AMD module sources: core, selectors, events, ajax, effects", True),
    ("lodash@4.17.21", "javascript", "", [],
     "lodash, CommonJS: the monolithic lodash.js and core.js, one module per function, the fp wrappers", False),
    ("express@4.21.2", "javascript", "", [],
     "express 4: app/router/request/response built as `app.x = function x() {}` assignments", False),
    ("moment@2.30.1", "javascript", "src", [],
     "moment's ES module sources: parsing, formatting, durations and 130 locales", False),
    ("underscore@1.13.7", "javascript", "modules", [],
     "underscore's ES module sources, one function per module", False),
    ("async@3.2.6", "javascript", "", ["dist"],
     "async: control-flow helpers as CommonJS modules", False),
    ("bluebird@3.7.2", "javascript", "js/release", [],
     "bluebird promises: prototype methods assigned in module closures", False),
    ("eslint@8.57.0", "javascript", "lib", [],
     "eslint 8's sources: the linter, CLI engine and 300 rules written as objects of visitor methods", False),
    ("webpack@5.97.1", "javascript", "lib", [],
     "webpack 5's sources: classes typed with JSDoc, plugins, dependencies, runtime modules", False),
    ("@effect/platform@0.84.6", "typescript", "src", [],
     "effect's platform layer in TypeScript: HTTP client/server, files, sockets, workers", True),
    ("@effect/schema@0.75.5", "typescript", "src", [],
     "effect's schema library before it moved into effect: one 9,000-line module of generic code", True),
    ("@effect/sql@0.35.3", "typescript", "src", [],
     "effect's SQL layer: generic tagged templates (sql<Row>`...`) inside generator functions", True),
    ("zod@3.25.76", "typescript", "src", [],
     "zod v3 and v4 TypeScript sources with their tests", False),
    ("rxjs@7.8.1", "typescript", "src", [],
     "RxJS 7's TypeScript sources: observables, 100+ operators, schedulers, testing", False),
    ("effect@3.16.12", "typescript", "src", [],
     "effect's TypeScript sources: the runtime, data types, streams, STM", False),
    ("mobx@6.13.7", "typescript", "src", [],
     "mobx's TypeScript sources: observables, reactions, decorators", False),
    ("ajv@8.17.1", "typescript", "lib", [],
     "ajv's TypeScript sources (lib/): the JSON-schema compiler and vocabularies", False),
    ("immer@10.1.1", "typescript", "src", [],
     "immer's TypeScript sources: drafts, patches, plugins", False),
]  # fmt: skip
# For `make test`: small, and full of the assignment-named functions that were missed.
_SMALL = [
    ("express@4.21.2", "javascript", "", [],
     "express 4: app/router/request/response built as `app.x = function x() {}` assignments", False),
]  # fmt: skip

_PROGRAM = r"""
// Lists functions by the convention of bench/truth_js.py; one JSON object per line on stdout.
const fs = require("fs");
const path = require("path");
const ts = require(process.argv[2]);
const root = process.argv[3];
const KINDS = { ".js": ts.ScriptKind.JS, ".mjs": ts.ScriptKind.JS, ".cjs": ts.ScriptKind.JS,
  ".jsx": ts.ScriptKind.JSX, ".ts": ts.ScriptKind.TS, ".mts": ts.ScriptKind.TS, ".cts": ts.ScriptKind.TS,
  ".tsx": ts.ScriptKind.TSX };
const out = [];
const files = fs.readFileSync(0, "utf8").split("\n").filter((f) => f);

for (const rel of files) {
  let text = fs.readFileSync(path.join(root, rel), "utf8");
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  text = text.replace(/\r\n?/g, "\n");  // as the extractor normalises them
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true, KINDS[path.extname(rel)]);
  if (sf.parseDiagnostics.length) {
    const d = sf.parseDiagnostics[0];
    const where = sf.getLineAndCharacterOfPosition(d.start).line + 1;
    out.push(JSON.stringify({ file: rel, error: `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}` }));
    continue;
  }
  // Lines by "\n" only: the compiler also breaks lines at U+2028/U+2029, tree-sitter does not.
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  const lineOf = (pos) => {
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (starts[mid] <= pos) lo = mid; else hi = mid - 1; }
    return lo + 1;
  };
  const nameText = (n) => {
    if (ts.isStringLiteral(n)) return n.getText(sf).slice(1, -1);
    return n.getText(sf);
  };
  const isAssign = (n) => ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.EqualsToken;

  // The doc: the nearest JSDoc attached to any host; hosts[last] is the outermost (its leading comments).
  const docOf = (hosts) => {
    let best = null;
    for (const h of hosts) for (const d of h.jsDoc || []) if (!best || d.pos > best.pos) best = d;
    // The comment nearest the function: a plain one between the JSDoc and it makes the JSDoc a header.
    let nearest = null;
    for (const h of hosts) for (const c of ts.getLeadingCommentRanges(text, h.pos) || []) {
      if (!nearest || c.end > nearest.end) nearest = c;
    }
    if (best && (!nearest || nearest.pos <= best.pos)) {
      // Without `/**`, `*/` and each line's `*` margin, as the compiler reads the comment's text.
      const raw = text.slice(best.pos, best.end).replace(/^\/\*\*/, "").replace(/\*\/$/, "");
      return raw.split("\n").map((l) => l.replace(/^[ \t]*\*(?!\/) ?/, "")).join("\n");
    }
    return nearest ? null : "";
  };
  const emit = (name, nameNode, hosts) => {
    out.push(JSON.stringify({ file: rel, name, line: lineOf(nameNode.getStart(sf)), doc: docOf(hosts) }));
  };

  // What carries the doc of a variable declaration's value: the declaration, and the statement when it is
  // the statement's first declaration (`var a = f, b = g` documents `a` only).
  const declHosts = (decl) => {
    const list = decl.parent;
    const first = ts.isVariableDeclarationList(list) && list.declarations[0] === decl;
    return first && ts.isVariableStatement(list.parent) ? [decl, list.parent] : [decl];
  };
  // A function value's name node and the nodes that may carry its doc, or null when nothing names it.
  const named = (fn) => {
    const p = fn.parent;
    if (ts.isVariableDeclaration(p) && p.initializer === fn && ts.isIdentifier(p.name)) {
      return [p.name, [fn, ...declHosts(p)]];
    }
    if ((ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.initializer === fn) return [p.name, [fn, p]];
    if (isAssign(p) && p.right === fn) {
      // `a = b.c = function` and `var a = b.c = function`: the doc is the whole statement's.
      let top = p;
      while (isAssign(top.parent) && top.parent.right === top) top = top.parent;
      const hosts = [fn, top];
      if (ts.isExpressionStatement(top.parent)) hosts.push(top.parent);
      if (ts.isVariableDeclaration(top.parent) && top.parent.initializer === top) hosts.push(...declHosts(top.parent));
      const l = p.left;
      if (ts.isIdentifier(l)) return [l, hosts];
      if (ts.isPropertyAccessExpression(l)) {
        const onModule = ts.isIdentifier(l.expression) && l.expression.text === "module";
        return [onModule && l.name.text === "exports" && fn.name ? fn.name : l.name, hosts];
      }
      const key = ts.isElementAccessExpression(l) ? l.argumentExpression : null;
      if (key && ts.isStringLiteral(key)) return [key, hosts];
    }
    return null;
  };

  const visit = (n) => {
    if (ts.isFunctionDeclaration(n)) {
      if (n.body && n.name) emit(nameText(n.name), n.name, [n]);
    } else if (ts.isMethodDeclaration(n) || ts.isGetAccessorDeclaration(n) || ts.isSetAccessorDeclaration(n)) {
      if (n.body) emit(nameText(n.name), n.name, [n]);
    } else if (ts.isConstructorDeclaration(n)) {
      const kw = n.getChildren(sf).find((c) => c.kind === ts.SyntaxKind.ConstructorKeyword) || n;
      if (n.body) emit("constructor", kw, [n]);
    } else if (ts.isFunctionExpression(n) || ts.isArrowFunction(n)) {
      const got = named(n);
      if (got) emit(nameText(got[0]), got[0], got[1]);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
}
process.stdout.write(out.map((l) => l + "\n").join(""));
"""


def _cache_of(root: Path) -> Path:
    """The cache folder (``out/code_truth/js``) above a project root (``<cache>/packages/<pkg>/package/...``)."""
    for parent in root.parents:
        if parent.name == "packages":
            return parent.parent
    raise ValueError(f"{root} is not under a packages/ folder of the JS truth cache")


def _compiler(cache: Path) -> Path:
    """The TypeScript compiler, installed once into the cache; the truth script beside it."""
    module = cache / "node_modules" / "typescript"
    if not (module / "package.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--silent", TYPESCRIPT],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    script = cache / "truth_js.js"
    if not script.exists() or script.read_text() != _PROGRAM:
        script.write_text(_PROGRAM)
    return module


def _parse(cache: Path, root: Path, files: list[str]) -> list[dict]:
    module = _compiler(cache)
    return json_lines(
        ["node", "--stack-size=8000", str(cache / "truth_js.js"), str(module.resolve()), str(root)], files
    )


def _package(cache: Path, spec: str, removed: list[str]) -> Path:
    """``npm pack spec`` unpacked once into ``<cache>/packages/<name>@<version>``; build copies removed."""
    base = cache / "packages" / spec.replace("/", "+")
    if (base / "package").is_dir():
        return base
    tmp = base.parent / f"{base.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    packed = subprocess.run(
        ["npm", "pack", spec, "--json", "--silent", "--pack-destination", str(tmp)],
        check=True,
        capture_output=True,
        text=True,
    )
    tarball = tmp / json.loads(packed.stdout)[0]["filename"]
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
    tarball.unlink()
    for rel in removed:
        target = tmp / "package" / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    tmp.rename(base)
    return base


def _project(cache: Path, source: tuple) -> Project:
    spec, lang, inner, removed, what, dev = source
    base = _package(cache, spec, removed)
    root = base / "package" / inner if inner else base / "package"
    files = source_files(Project(lang, spec, "", root), _ALL_LANGS)
    record = set_aside(base, root, files, lambda fs: _rejected(cache, root, fs))
    pruned = f"; {', '.join(removed)} removed (build copies)" if removed else ""
    return Project(
        lang=lang,
        name=f"npm:{spec}",
        obtained=f"npm pack {spec}; tar xzf; the sources under package/{inner}{pruned}; "
        f"{len(record['rejected'])} of {record['files']} files the compiler rejects set aside",
        root=root,
        what=f"{'DEV' if dev else 'held-out'}: {what}",
    )


def _rejected(cache: Path, root: Path, files: list[str]) -> dict[str, str]:
    return {r["file"]: r["error"] for r in _parse(cache, root, files) if "error" in r}


def projects(cache: Path, small: bool = False) -> list[Project]:
    """The pinned npm projects (one small one with ``small``); ``what`` says which are DEV and which held out."""
    return [_project(cache, s) for s in (_SMALL if small else _SOURCES)]


def truth(project: Project, files: list[str]) -> list[Truth]:
    """The compiler's functions in these files (see the module doc)."""
    rows = _parse(_cache_of(project.root), project.root, files)
    errors = [r for r in rows if "error" in r]
    if errors:
        print(f"    typescript: {len(errors)} files with syntax errors left out", file=sys.stderr)
    return [Truth(r["file"], r["name"], r["line"], r["doc"]) for r in rows if "error" not in r]
