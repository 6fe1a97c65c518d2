"""C and C++ extraction on real code, against libclang (bench/truth_c.py), one small project per language.

Brotli's decoder (C, PyPI ``Brotli==1.1.0``) and LevelDB's util folder (C++ with ``.h`` headers, npm
``leveldown@6.1.1``), parts of the development sets, are fetched once into ``out/code_truth/c``; the test
is skipped when the registry or libclang cannot be reached. Held to F1 >= 0.95 and doc agreement >= 0.97.
The full comparison, held-out projects included, is ``bench/code_accuracy.py --langs c cpp``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

MIN_F1 = 0.95
MIN_DOC = 0.97


@pytest.fixture(scope="module")
def small_projects():
    pytest.importorskip("clang.cindex", reason="libclang is in requirements-dev.txt")
    import truth_c
    from code_truth import CACHE

    try:
        return truth_c, truth_c.projects(CACHE / "c", small=True)
    except Exception as exc:  # noqa: BLE001 - no registry here: nothing to measure against
        pytest.skip(f"cannot fetch the C/C++ projects: {exc}")


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_real_project_against_libclang(small_projects, lang):
    from code_truth import git_copy, match, skipped_by_content, source_files

    from crawlers.code.extract import extract_repos
    from crawlers.code.filters import FilterConfig, path_reason

    truth_c, projects = small_projects
    (project,) = [p for p in projects if p.lang == lang]
    files = [
        f
        for f in source_files(project, truth_c.LANGS)
        if not (path_reason(f, FilterConfig.off()) or skipped_by_content(project.root, f))
    ]
    truths = truth_c.truth(project, files)
    with tempfile.TemporaryDirectory() as tmp:
        repo = git_copy(project, files, Path(tmp) / "repo")
        units = extract_repos([str(repo)], cfg=FilterConfig.off(), workers=1)
    units = units[units["kind"].isin(["function", "method"])].to_dict("records")
    score = match(truths, units)
    print(f"{project.name}: truth {score.truth} P {score.precision:.3f} R {score.recall:.3f} F1 {score.f1:.3f} "
          f"doc {score.doc_agreement:.3f} ({score.doc_compared})")  # fmt: skip
    assert score.truth >= 100
    assert score.f1 >= MIN_F1, (score.misses, score.extras)
    assert score.doc_agreement >= MIN_DOC, score.doc_diffs
