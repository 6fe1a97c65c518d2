"""Rust truth from syn: every ``fn`` with a body at any depth, its name's line and the doc rustdoc reads.

What counts: free functions, ``impl`` methods, trait methods WITH a default body, and fns nested in fns,
modules, blocks and consts, as ``syn::parse_file`` (syn 1, features full + visit; proc-macro2 with
span-locations for lines) reads the file. Trait methods without a body and ``extern`` block functions are
declarations, which the extractor skips by design. Items inside macro invocations (``cfg_rt! { ... }``,
``macro_rules!``) are token trees to syn and to tree-sitter alike, so neither side counts them.

The doc is every ``#[doc = "..."]`` attribute, which is what ``///`` and ``/** */`` become, outer ones then
inner ``//!`` ones, joined with newlines: what rustdoc renders. Plain ``//`` comments are not docs to
rustdoc, so a fn with only those has the doc "". A doc that is not a string literal
(``#[doc = include_str!(..)]``) gives no opinion.

Sources are Debian's ``librust-*-dev`` packages (crate sources, tests and examples as published, under
/usr/share/cargo/registry), fetched with ``apt-get download``. The truth program builds offline against
Debian's own syn (``librust-syn-dev``) through a cargo source replacement, so it needs no crates.io.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from code_truth import Project, Truth, source_files  # noqa: E402
from truth_fetch import apt_install, cache_of, debian_package, ensure_tool, json_lines, set_aside  # noqa: E402

LANGS = ("rust",)
DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")

# (package, version, project name, what, dev)
_SOURCES = [
    ("librust-tokio-dev", "1.24.2-1", "tokio", "tokio, the async runtime: scheduler, io, net, sync, with tests", True),
    ("librust-syn-dev", "1.0.107-1", "syn", "syn 1, a Rust parser: AST types, parsing, printing, with tests", False),
    ("librust-rayon-dev", "1.6.1-1", "rayon", "rayon, data parallelism: parallel iterators, join, with tests", False),
    ("librust-clap-dev", "4.0.32-1", "clap", "clap 4, command-line argument parsing: builder, parser, output", False),
    ("librust-regex-syntax-dev", "0.6.27-1", "regex-syntax", "regex-syntax, the regex crate's parser and HIR", False),
]  # fmt: skip
_SMALL = ("librust-anyhow-dev", "1.0.69-1", "anyhow", "anyhow, an error type with context, with tests", False)

_CARGO_TOML = """[package]
name = "rusttruth"
version = "0.1.0"
edition = "2018"

[dependencies]
syn = { version = "1", features = ["full", "visit"] }
proc-macro2 = { version = "1", features = ["span-locations"] }
"""
# Debian's registry is a cargo directory source: every crate it holds stands in for crates.io.
_CARGO_CONFIG = f"""[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "{DEBIAN_REGISTRY}"
"""

_PROGRAM = r"""use std::io::{self, BufRead, BufWriter, Write};
use syn::visit::{self, Visit};

struct Collector {
    items: Vec<(String, usize, Option<String>)>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// The doc rustdoc reads: every #[doc = "..."] (what /// and /** */ become), outer then inner, in order.
// None when one is not a string literal (#[doc = include_str!(...)]): no opinion then.
fn doc(attrs: &[syn::Attribute]) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    let outer = attrs.iter().filter(|a| matches!(a.style, syn::AttrStyle::Outer));
    let inner = attrs.iter().filter(|a| !matches!(a.style, syn::AttrStyle::Outer));
    for attr in outer.chain(inner) {
        if !attr.path.is_ident("doc") {
            continue;
        }
        match attr.parse_meta() {
            Ok(syn::Meta::NameValue(syn::MetaNameValue { lit: syn::Lit::Str(s), .. })) => parts.push(s.value()),
            Ok(syn::Meta::List(_)) => {} // #[doc(hidden)], #[doc(alias = "..")]: no text
            _ => return None,
        }
    }
    Some(parts.join("\n"))
}

impl Collector {
    fn push(&mut self, ident: &syn::Ident, attrs: &[syn::Attribute]) {
        let line = ident.span().start().line;
        self.items.push((ident.to_string(), line, doc(attrs)));
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_fn(&mut self, i: &'ast syn::ItemFn) {
        self.push(&i.sig.ident, &i.attrs);
        visit::visit_item_fn(self, i);
    }
    fn visit_impl_item_method(&mut self, i: &'ast syn::ImplItemMethod) {
        self.push(&i.sig.ident, &i.attrs);
        visit::visit_impl_item_method(self, i);
    }
    fn visit_trait_item_method(&mut self, i: &'ast syn::TraitItemMethod) {
        if i.default.is_some() {
            self.push(&i.sig.ident, &i.attrs);
        }
        visit::visit_trait_item_method(self, i);
    }
}

fn main() {
    let root = std::env::args().nth(1).expect("usage: rusttruth ROOT < files");
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for rel in io::stdin().lock().lines() {
        let rel = rel.expect("stdin");
        if rel.is_empty() {
            continue;
        }
        let path = std::path::Path::new(&root).join(&rel);
        let text = match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                writeln!(out, "{{\"file\":{},\"error\":{}}}", escape(&rel), escape(&e.to_string())).unwrap();
                continue;
            }
        };
        match syn::parse_file(&text) {
            Err(e) => {
                let at = e.span().start();
                let msg = format!("{}:{}: {}", at.line, at.column, e);
                writeln!(out, "{{\"file\":{},\"error\":{}}}", escape(&rel), escape(&msg)).unwrap();
            }
            Ok(file) => {
                let mut c = Collector { items: Vec::new() };
                c.visit_file(&file);
                for (name, line, doc) in c.items {
                    let doc = doc.map(|d| escape(&d)).unwrap_or_else(|| "null".to_string());
                    let (rel, name) = (escape(&rel), escape(&name));
                    writeln!(out, "{{\"file\":{},\"name\":{},\"line\":{},\"doc\":{}}}", rel, name, line, doc).unwrap();
                }
            }
        }
    }
}
"""


def _binary(cache: Path) -> Path:
    """The truth program, built once into the cache with ``cargo build --offline`` against Debian's syn."""
    exe = cache / "bin" / "rusttruth" / "target" / "release" / "rusttruth"
    if exe.exists():
        return exe
    ensure_tool("cargo", ["cargo"])
    if not list(DEBIAN_REGISTRY.glob("syn-1.*")):
        apt_install(["librust-syn-dev"])  # syn 1 with proc-macro2, quote and unicode-ident
    crate = exe.parents[2]
    (crate / "src").mkdir(parents=True, exist_ok=True)
    (crate / ".cargo").mkdir(exist_ok=True)
    (crate / "Cargo.toml").write_text(_CARGO_TOML)
    (crate / ".cargo" / "config.toml").write_text(_CARGO_CONFIG)
    (crate / "src" / "main.rs").write_text(_PROGRAM)
    subprocess.run(["cargo", "build", "--offline", "--release", "-q"], cwd=crate, check=True)
    return exe


def _parse(cache: Path, root: Path, files: list[str]) -> list[dict]:
    return json_lines([str(_binary(cache)), str(root)], files)


def _rejected(cache: Path, root: Path, files: list[str]) -> dict[str, str]:
    return {r["file"]: r["error"] for r in _parse(cache, root, files) if "error" in r}


def _project(cache: Path, source: tuple) -> Project:
    package, version, name, what, dev = source
    base, used = debian_package(cache, package, version)
    (root,) = (base / "deb" / DEBIAN_REGISTRY.relative_to("/")).iterdir()
    files = source_files(Project("rust", name, "", root), LANGS)
    record = set_aside(base, root, files, lambda fs: _rejected(cache, root, fs))
    return Project(
        lang="rust",
        name=f"deb:{package}@{used}",
        obtained=f"apt-get download {package}={used}; dpkg-deb -x; the crate under {DEBIAN_REGISTRY}/{root.name}; "
        f"{len(record['rejected'])} of {record['files']} .rs files syn rejects set aside",
        root=root,
        what=f"{'DEV' if dev else 'held-out'}: {what}",
    )


def projects(cache: Path, small: bool = False) -> list[Project]:
    """The pinned crates (one small one with ``small``); the first is the DEV project, the rest held out."""
    return [_project(cache, s) for s in ([_SMALL] if small else _SOURCES)]


def truth(project: Project, files: list[str]) -> list[Truth]:
    """syn's fns with a body in these files (see the module doc)."""
    rows = _parse(cache_of(project.root), project.root, files)
    errors = sum(1 for r in rows if "error" in r)
    if errors:
        print(f"    syn: {errors} files rejected", file=sys.stderr)
    return [Truth(r["file"], r["name"], r["line"], r["doc"]) for r in rows if "error" not in r]
