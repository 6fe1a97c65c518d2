"""The code extractor on a hostile repository: odd names, encodings, line endings, links and sizes.

Everything is built with real local git in a temp dir and extracted with every quality
filter off, so only robustness is under test: the run finishes, records validate, every
function sits on its true line, and every tracked file is either parsed or counted as skipped.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from crawlers.code.extract import LARGE_FILE_BYTES, decode_source, extract_repos
from crawlers.code.filters import FilterConfig
from crawlers.code.units import extract_units, java_unicode_escapes
from validate.contracts import CodeUnit
from validate.io import read_records, write_records

OFF = FilterConfig(min_doc_words=0, min_body_lines=0, drop_tests=False, drop_boilerplate=False)
SUB_SHA = "0123456789abcdef0123456789abcdef01234567"  # a submodule commit that exists nowhere


def git(root: Path, *args: str) -> bytes:
    cmd = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def write(root: Path, rel: str | bytes, body: bytes | str) -> None:
    """Bytes paths too: a name that is not UTF-8 cannot be spelt as a str path."""
    path = os.path.join(os.fsencode(root), rel if isinstance(rel, bytes) else rel.encode())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body.encode() if isinstance(body, str) else body)


def fn(name: str) -> str:
    return f"def {name}(x):\n    y = x + 1\n    return y\n"


PADDING = "# padding comment line that makes the file longer than git's binary probe\n" * 120
LONG_LINE = "function packed(){return [" + ",".join(["1"] * 800) + "]}\n"
# name -> (path in the record, start line) of every unit the repository must yield
EXPECTED = {
    "settle": ("ok.py", 1),
    "from_bad_name": ("bad\\xff.py", 1),
    "before_late_nul": ("late_nul.py", 121),
    "Utf16": ("Utf16.java", 1),
    "hello": ("Utf16.java", 2),
    "bomless": ("bomless.py", 1),
    "utf32": ("utf32.py", 1),
    "mac_one": ("mac.py", 1),
    "mac_two": ("mac.py", 5),
    "mixed_one": ("mixed.py", 1),
    "mixed_two": ("mixed.py", 5),
    "before_long": ("app.js", 1),
    "after_long": ("app.js", 5),
    "App": ("view.jsx", 1),
    "helper": ("mod.mjs", 1),
    "required": ("req.cjs", 1),
    "typed": ("mod.mts", 1),
    "ctyped": ("mod.cts", 1),
    "Cafe": ("Cafe.java", 1),
    "café": ("Cafe.java", 2),
    "big_0": ("big.py", 1),
    "big_7999": ("big.py", 7999 * 4 + 1),
}


@pytest.fixture
def hostile_repo(tmp_path: Path) -> Path:
    return build_hostile_repo(tmp_path)


def build_hostile_repo(tmp_path: Path) -> Path:
    """A committed repository of hostile files in ``tmp_path``/repo, and a file outside it a link points at."""
    outside = tmp_path / "outside"
    write(outside, "secret.py", fn("secret_outside"))
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "ok.py", fn("settle"))
    write(root, b"bad\xff.py", fn("from_bad_name"))
    write(root, "blob.py", b"\x00\x01\x02\xff" * 300)  # binary content under a source name
    write(root, "late_nul.py", PADDING + fn("before_late_nul") + "# \x00 past the probe\n")
    java16 = 'class Utf16 {\n    void hello() {\n        System.out.println("\u4f60\u597d");\n    }\n}\n'
    write(root, "Utf16.java", b"\xff\xfe" + java16.encode("utf-16-le"))
    write(root, "bomless.py", fn("bomless").encode("utf-16-le"))
    write(root, "utf32.py", b"\xff\xfe\x00\x00" + fn("utf32").encode("utf-32-le"))
    write(root, "mac.py", (fn("mac_one") + "\n" + fn("mac_two")).replace("\n", "\r"))
    write(root, "mixed.py", "def mixed_one(x):\r\n    y = x\r    return y\n\ndef mixed_two():\r\n    return 2\r\n")
    write(
        root,
        "app.js",
        "function before_long(a) {\n  return a;\n}\n" + LONG_LINE + "function after_long(b) {\n  return b;\n}\n",
    )
    write(root, "view.jsx", 'export function App() {\n  return <div className="x">{1}</div>;\n}\n')
    write(root, "mod.mjs", "export function helper(a) {\n  return a;\n}\n")
    write(root, "req.cjs", "function required(a) {\n  return a;\n}\nmodule.exports = required;\n")
    write(root, "mod.mts", "export function typed(a: number): number {\n  return a;\n}\n")
    write(root, "mod.cts", "export function ctyped(a: string): string {\n  return a;\n}\n")
    write(root, "Cafe.java", "class Cafe {\n    int caf\\u00e9() {\n        return 1;\n    }\n}\n")
    write(root, "big.py", "".join(f"def big_{i}(x):\n    return x + {i}  # {'p' * 110}\n\n\n" for i in range(8000)))
    # Functions nested deeper than Python's recursion limit: the unit walk fails on this file, and only on it.
    # (Deep data alone, 3,000 nested arrays, no longer reaches the walk: only subtrees holding units are entered.)
    write(root, "deep.js", "function shallow() {}\n" + "function f() {\n" * 3000 + "}\n" * 3000)
    write(root, "data.js", "function shallow() {}\nvar x = " + "[\n" * 3000 + "]\n" * 3000 + ";\n")
    os.symlink(outside / "secret.py", root / "link.py")
    git(root, "add", "-A")
    git(root, "update-index", "--add", "--cacheinfo", f"160000,{SUB_SHA},vendor/sub")
    git(root, "commit", "-q", "-m", "hostile")
    return root


def test_hostile_repository_is_extracted_file_by_file(hostile_repo, tmp_path):
    assert (hostile_repo / "big.py").stat().st_size > LARGE_FILE_BYTES
    stats: Counter = Counter()
    failures: list[str] = []
    file_errors: list[str] = []
    cfg = FilterConfig.off()
    cfg.max_line_chars = 1000  # every filter off but the one for machine-made lines, checked below
    units = extract_repos([str(hostile_repo)], stats, cfg, 1, failures=failures, file_errors=file_errors)
    assert failures == []
    assert ("shallow", "data.js") in set(zip(units["symbol"], units["path"], strict=True))
    [error] = file_errors  # the message after the type name differs between Python versions
    assert error.startswith("error: RecursionError: ") and error.endswith(f"({hostile_repo / 'deep.js'})")

    # The contract holds and both formats take the paths: a surrogate-escaped name would fail here.
    for written in write_records(units, tmp_path / "out" / "code_units", CodeUnit):
        assert len(read_records(written, CodeUnit)) == len(units)

    got = {(r.symbol, r.path, r.start_line) for r in units.itertuples()}
    for symbol, (path, line) in EXPECTED.items():
        assert (symbol, path, line) in got, (symbol, sorted(s for s in got if s[1] == path))
    assert not any("secret" in s for s, _, _ in got)  # the link out of the repository was never read
    assert "packed" not in set(units["symbol"])  # the unit on the minified line, and only it

    tracked = git(hostile_repo, "ls-files", "-z").split(b"\0")[:-1]
    skipped = {k: v for k, v in stats.items() if k.startswith("skipped/")}
    assert stats["files/tracked"] == len(tracked) == stats["files/parsed"] + sum(skipped.values())
    assert skipped == {"skipped/binary": 1, "skipped/symlink": 1, "skipped/submodule": 1, "skipped/error": 1}
    assert stats["errors/RecursionError"] == 1
    assert stats["files/undecodable_name"] == 1
    assert stats["files/reencoded"] == 3  # UTF-16 with and without BOM, UTF-32
    assert stats["files/large"] == 1
    assert stats["filtered/minified_line"] == 1


def test_parallel_workers_give_the_same_units(hostile_repo):
    one, many = Counter(), Counter()
    serial = extract_repos([str(hostile_repo)], one, OFF, 1)
    parallel = extract_repos([str(hostile_repo)], many, OFF, 2)
    assert serial.equals(parallel)
    assert one == many


def test_unreadable_repositories_are_counted_with_a_reason(tmp_path, monkeypatch):
    # A temp dir inside some larger checkout would be read as that checkout, as git does; stop the search here.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text(fn("not_in_git"))
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    missing = tmp_path / "missing"
    stats: Counter = Counter()
    failures: list[str] = []
    repos = [str(missing), "./no/such/dir", str(plain), str(empty), f"file://{missing}"]
    units = extract_repos(repos, stats, OFF, 1, failures=failures)
    assert len(units) == 0
    assert failures[:4] == [
        f"no such file or directory ({missing})",
        "no such file or directory (./no/such/dir)",
        f"not a git repository ({plain})",
        f"repository has no commits ({empty})",
    ]
    assert failures[4].startswith("git clone failed: ") and failures[4].endswith(f"(file://{missing})")
    assert stats["repos/failed"] == 5 and stats["repos/failed/empty"] == 1


def test_a_subfolder_reads_its_enclosing_checkout(tmp_path):
    root = tmp_path / "r"
    write(root, "pkg/m.py", fn("inside"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "x")
    stats: Counter = Counter()
    units = extract_repos([str(root / "pkg")], stats, OFF, 1)
    assert list(units["path"]) == ["pkg/m.py"]
    assert stats["repos/read_enclosing_checkout"] == 1


def test_java_unicode_escapes_follow_jls_3_3():
    assert java_unicode_escapes(rb"caf\u00e9 \uuu0041") == "café A".encode()
    assert java_unicode_escapes(rb"\\u0041 \\\u0041") == rb"\\u0041 \\A"  # even backslashes: no escape
    assert java_unicode_escapes(rb"a\u000ab \ud83d") == rb"a\u000ab \ud83d"  # line terminators, surrogates kept
    src = b"class A {\n  // \\u00e9\n  int \\u0062() {\n    return 1;\n  }\n}\n"
    assert {(u.symbol, u.start_line) for u in extract_units(src, "java")} == {("A", 1), ("b", 3)}


def test_boms_and_binary():
    assert decode_source(b"\xef\xbb\xbfx = 1\n") == ("x = 1\n", False)
    assert decode_source(b"\xfe\xff" + "x = 1\n".encode("utf-16-be")) == ("x = 1\n", True)
    assert decode_source("def f():\n    pass\n".encode("utf-16-be")) == ("def f():\n    pass\n", True)
    with pytest.raises(Exception, match="binary"):
        decode_source(b"\x7fELF\x02\x01\x01\x00" * 50)


@pytest.mark.slow
def test_a_file_over_the_soft_limit_is_still_parsed(tmp_path):
    """~5 MB of generated-looking (but unmarked) code: parsed, every function out."""
    lines = "".join(f"    c{j} = a * b + {j}\n" for j in range(14))
    body = "".join(f"def gen_{i}(a, b):\n{lines}    return c0 - {i}\n\n" for i in range(15_000))
    assert len(body) > 4_500_000
    root = tmp_path / "g"
    write(root, "gen.py", body)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "x")
    stats: Counter = Counter()
    units = extract_repos([str(root)], stats, OFF, 1)
    assert len(units) == 15_000 and stats["files/large"] == 1
    assert units["start_line"].iloc[-1] == 14_999 * 17 + 1
