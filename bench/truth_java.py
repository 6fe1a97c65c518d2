"""Java truth from javac: every method and constructor with a body, its name's line and its javadoc.

What counts: each ``MethodTree`` with a body that ``JavacTask.parse()`` (no attribution) finds at any depth:
methods, constructors, compact record constructors, methods of local, anonymous and enum-constant classes,
interface default and static methods. Abstract, interface, native and annotation-element methods have no
body; the extractor skips them by design, so they are left out. javac names constructors ``<init>``; the
source, and the extractor, name them after their class, so the truth does too.

The line is javac's position of the declaration (``JCTree.pos``: the name). The doc is
``DocTrees.getDocComment``: the last ``/** */`` comment before the declaration's first token (its
annotations included), the ``*`` margin stripped, "" when there is none. Plain ``//`` and ``/* */``
comments are not javadoc, so a method with only those has the doc "".

Sources are the JDK's own (``openjdk-17-source`` from Debian, whose src.zip holds every module's sources);
a few packages are unzipped as separate projects. src.zip carries no tests.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from code_truth import Project, Truth, source_files  # noqa: E402
from truth_fetch import debian_package, ensure_tool, json_lines, set_aside  # noqa: E402

LANGS = ("java",)
_PACKAGE, _VERSION = "openjdk-17-source", "17.0.21.1+2-1~deb12u1"
_SRC_ZIP = "usr/lib/jvm/openjdk-17/lib/src.zip"

# (project name, folders inside src.zip, what, dev)
_SOURCES = [
    ("java.util", ("java.base/java/util/",), "java.util with concurrent, stream, regex, function", True),
    ("javac", ("jdk.compiler/com/sun/tools/javac/",), "javac itself: parser, attribution, code generation", False),
    ("java.net", ("java.base/java/net/", "java.net.http/"), "java.net and the java.net.http client", False),
    ("swing", ("java.desktop/javax/swing/",), "Swing: components, text, look-and-feels", False),
]
_SMALL = ("java.util.regex", ("java.base/java/util/regex/",), "java.util.regex", False)
# Parse-only javac still needs its tree classes for the name's position; they are not exported by default.
_EXPORTS = ["--add-exports", "jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED"]

_PROGRAM = r"""import com.sun.source.tree.ClassTree;
import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.tree.LineMap;
import com.sun.source.tree.MethodTree;
import com.sun.source.util.DocTrees;
import com.sun.source.util.JavacTask;
import com.sun.source.util.TreePathScanner;
import com.sun.tools.javac.tree.JCTree;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

public class JavaTruth {
    static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c)); else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]);
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        List<String> all = new ArrayList<>();
        for (String line; (line = in.readLine()) != null; ) if (!line.isEmpty()) all.add(line);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        // Batches keep memory bounded; a syntax error in one file does not stop the others parsing.
        for (int start = 0; start < all.size(); start += 200) {
            List<String> batch = all.subList(start, Math.min(all.size(), start + 200));
            DiagnosticCollector<JavaFileObject> diags = new DiagnosticCollector<>();
            StandardJavaFileManager fm = javac.getStandardFileManager(diags, null, StandardCharsets.UTF_8);
            Map<String, String> relOf = new HashMap<>();
            List<Path> paths = new ArrayList<>();
            for (String rel : batch) {
                Path p = root.resolve(rel);
                paths.add(p);
                relOf.put(p.toUri().toString(), rel);
            }
            JavacTask task = (JavacTask) javac.getTask(null, fm, diags, List.of("-proc:none", "-encoding", "UTF-8"),
                    null, fm.getJavaFileObjectsFromPaths(paths));
            Iterable<? extends CompilationUnitTree> units = task.parse();
            Map<String, String> errors = new HashMap<>();
            for (Diagnostic<? extends JavaFileObject> d : diags.getDiagnostics()) {
                if (d.getKind() == Diagnostic.Kind.ERROR && d.getSource() != null) {
                    errors.putIfAbsent(relOf.get(d.getSource().toUri().toString()),
                            d.getLineNumber() + ": " + d.getMessage(null));
                }
            }
            DocTrees docs = DocTrees.instance(task);
            for (CompilationUnitTree unit : units) {
                String rel = relOf.get(unit.getSourceFile().toUri().toString());
                if (errors.containsKey(rel)) {
                    out.println("{\"file\":" + q(rel) + ",\"error\":" + q(errors.get(rel)) + "}");
                    continue;
                }
                LineMap lines = unit.getLineMap();
                Deque<String> classes = new ArrayDeque<>();
                new TreePathScanner<Void, Void>() {
                    @Override
                    public Void visitClass(ClassTree c, Void v) {
                        classes.push(c.getSimpleName().toString());
                        try {
                            return super.visitClass(c, v);
                        } finally {
                            classes.pop();
                        }
                    }

                    @Override
                    public Void visitMethod(MethodTree m, Void v) {
                        String name = m.getName().toString();
                        // Constructors are <init> to javac; the source (and the extractor) names them after the class.
                        if (name.equals("<init>")) name = classes.peek();
                        long line = lines.getLineNumber(((JCTree) m).pos);
                        String doc = docs.getDocComment(getCurrentPath());
                        out.println("{\"file\":" + q(rel) + ",\"name\":" + q(name) + ",\"line\":" + line
                                + ",\"doc\":" + q(doc == null ? "" : doc) + ",\"body\":" + (m.getBody() != null) + "}");
                        return super.visitMethod(m, v);
                    }
                }.scan(unit, null);
            }
            fm.close();
        }
        out.flush();
    }
}
"""


def _classes(cache: Path) -> Path:
    """The truth program, compiled once into the cache with the machine's javac."""
    out = cache / "bin"
    if (out / "JavaTruth.class").exists():
        return out
    ensure_tool("javac", ["openjdk-17-jdk-headless"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "JavaTruth.java").write_text(_PROGRAM)
    subprocess.run(["javac", *_EXPORTS, "-d", str(out), str(out / "JavaTruth.java")], check=True)
    return out


def _parse(cache: Path, root: Path, files: list[str]) -> list[dict]:
    return json_lines(["java", *_EXPORTS, "-cp", str(_classes(cache)), "JavaTruth", str(root)], files)


def _rejected(cache: Path, root: Path, files: list[str]) -> dict[str, str]:
    return {r["file"]: r["error"] for r in _parse(cache, root, files) if "error" in r}


def _project(cache: Path, base: Path, used: str, source: tuple) -> Project:
    name, folders, what, dev = source
    home = base / name
    root = home / "src"
    if not (home / ".prepared.json").exists():
        with zipfile.ZipFile(base / "deb" / _SRC_ZIP) as zf:
            for member in zf.namelist():
                if member.startswith(folders) and member.endswith(".java"):
                    zf.extract(member, root)
    files = source_files(Project("java", name, "", root), LANGS)
    record = set_aside(home, root, files, lambda fs: _rejected(cache, root, fs))
    return Project(
        lang="java",
        name=f"jdk17:{name}@{used}",
        obtained=f"apt-get download {_PACKAGE}={used}; dpkg-deb -x; unzip /{_SRC_ZIP} {' '.join(folders)}; "
        f"{len(record['rejected'])} of {record['files']} .java files javac rejects set aside",
        root=root,
        what=f"{'DEV' if dev else 'held-out'}: {what}",
    )


def projects(cache: Path, small: bool = False) -> list[Project]:
    """Pinned JDK packages as projects (one small one with ``small``); the first is DEV, the rest held out."""
    base, used = debian_package(cache, _PACKAGE, _VERSION)
    return [_project(cache, base, used, s) for s in ([_SMALL] if small else _SOURCES)]


def truth(project: Project, files: list[str]) -> list[Truth]:
    """javac's methods and constructors with a body in these files (see the module doc)."""
    cache = project.root.parents[2]  # <cache>/<package>_<version>/<project>/src
    rows = _parse(cache, project.root, files)
    bodiless = sum(1 for r in rows if "error" not in r and not r["body"])
    errors = sum(1 for r in rows if "error" in r)
    print(f"    javac: {bodiless} methods without a body left out, {errors} files rejected", file=sys.stderr)
    return [Truth(r["file"], r["name"], r["line"], r["doc"]) for r in rows if "error" not in r and r["body"]]
