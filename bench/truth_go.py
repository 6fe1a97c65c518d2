"""Go truth from go/ast: every function and method declaration with a body, its name's line and its doc.

What counts: each ``*ast.FuncDecl`` whose ``Body`` is not nil (functions, methods, generic ones), as
``go/parser`` with ``ParseComments`` reads the file. Declarations without a body are assembly or linkname
stubs, not code, and the extractor skips them by design; they are counted and left out. Function literals
(``f := func() {...}``) are values, not declarations, and neither side counts them.

The doc is ``FuncDecl.Doc.Text()``: the comment group that ends on the line right above the declaration,
markers stripped, and ``//go:`` / ``//line`` directives removed, as ``go doc`` shows it.

Sources are Debian's ``golang-*-dev`` packages (full sources with tests under /usr/share/gocode/src) and
the Go standard library's own (``golang-1.19-src``), fetched with ``apt-get download``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from code_truth import Project, Truth, source_files  # noqa: E402
from truth_fetch import cache_of, debian_package, ensure_tool, json_lines, set_aside  # noqa: E402

LANGS = ("go",)

# (package, version, folder inside the package, project name, what, dev)
_SOURCES = [
    ("golang-google-grpc-dev", "1.33.3-2", "usr/share/gocode/src/google.golang.org/grpc", "grpc-go",
     "gRPC for Go: transport, balancers, credentials, resolvers, with tests", True),
    ("golang-github-go-git-go-git-dev", "5.4.2-3", "usr/share/gocode/src/github.com/go-git/go-git",
     "go-git", "a git implementation in pure Go: object storage, packfiles, protocols, with tests", False),
    ("golang-golang-x-tools-dev", "1:0.5.0+ds-1", "usr/share/gocode/src/golang.org/x/tools", "x-tools",
     "golang.org/x/tools: analysis passes, gopls internals, SSA, with tests and test data", False),
    ("golang-1.19-src", "1.19.8-2", "usr/share/go-1.19/src/net", "go-std-net",
     "the Go 1.19 standard library's net tree (net, net/http, net/netip...), with tests", False),
]  # fmt: skip
_SMALL = ("golang-github-spf13-cobra-dev", "1.6.1-1", "usr/share/gocode/src/github.com/spf13/cobra", "cobra",
          "spf13/cobra, a CLI framework, with tests", False)  # fmt: skip

_PROGRAM = r"""
package main

import (
	"bufio"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
)

type item struct {
	File string `json:"file"`
	Name string `json:"name,omitempty"`
	Line int    `json:"line,omitempty"`
	Doc  string `json:"doc"`
	Body bool   `json:"body"`
	Err  string `json:"error,omitempty"`
}

func main() {
	root := os.Args[1]
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	out := json.NewEncoder(w)
	for in.Scan() {
		rel := in.Text()
		if rel == "" {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.ParseComments)
		if err != nil {
			out.Encode(item{File: rel, Err: err.Error()})
			continue
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			doc := ""
			if fn.Doc != nil {
				doc = fn.Doc.Text()
			}
			line := fset.Position(fn.Name.Pos()).Line
			out.Encode(item{File: rel, Name: fn.Name.Name, Line: line, Doc: doc, Body: fn.Body != nil})
		}
	}
}
"""


def _binary(cache: Path) -> Path:
    """The truth program, built once into the cache with the machine's Go toolchain."""
    exe = cache / "bin" / "gotruth"
    if exe.exists():
        return exe
    ensure_tool("go", ["golang-go"])
    src = cache / "bin" / "gotruth.go"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(_PROGRAM)
    env = {**os.environ, "GOCACHE": str(cache / "gocache"), "GOPATH": str(cache / "gopath"), "GO111MODULE": "off"}
    subprocess.run(["go", "build", "-o", str(exe), str(src)], check=True, env=env)
    return exe


def _parse(cache: Path, root: Path, files: list[str]) -> list[dict]:
    return json_lines([str(_binary(cache)), str(root)], files)


def _rejected(cache: Path, root: Path, files: list[str]) -> dict[str, str]:
    return {r["file"]: r["error"].replace(f"{root}/", "") for r in _parse(cache, root, files) if "error" in r}


def _project(cache: Path, source: tuple) -> Project:
    package, version, inner, name, what, dev = source
    base, used = debian_package(cache, package, version)
    root = base / "deb" / inner
    files = source_files(Project("go", name, "", root), LANGS)
    record = set_aside(base, root, files, lambda fs: _rejected(cache, root, fs))
    rejected = len(record["rejected"])
    return Project(
        lang="go",
        # The standard library is one package: the tree taken out of it is part of the name.
        name=f"deb:{package}@{used}" + ("" if "/gocode/" in inner else f":{inner.rsplit('/src/', 1)[1]}"),
        obtained=f"apt-get download {package}={used}; dpkg-deb -x; the sources under /{inner}; "
        f"{rejected} of {record['files']} .go files go/parser rejects set aside",
        root=root,
        what=f"{'DEV' if dev else 'held-out'}: {what}",
    )


def projects(cache: Path, small: bool = False) -> list[Project]:
    """The pinned Go projects (one small one with ``small``); the first is the DEV project, the rest held out."""
    return [_project(cache, s) for s in ([_SMALL] if small else _SOURCES)]


def truth(project: Project, files: list[str]) -> list[Truth]:
    """go/ast's function declarations with a body in these files (see the module doc)."""
    rows = _parse(cache_of(project.root), project.root, files)
    bodiless = sum(1 for r in rows if "error" not in r and not r["body"])
    errors = [r for r in rows if "error" in r]
    if bodiless or errors:
        print(
            f"    go/ast: {bodiless} declarations without a body left out, {len(errors)} files rejected",
            file=sys.stderr,
        )
    return [Truth(r["file"], r["name"], r["line"], r["doc"]) for r in rows if "error" not in r and r["body"]]
