"""JavaScript extraction on a real npm package, against the TypeScript compiler's own parser (issue 14).

express 4 is fetched with ``npm pack`` and the compiler installed with ``npm install`` the first time
(both cached under ``out/code_truth/js``); ``bench/truth_js.py`` lists its functions by the compiler's
AST and ``bench/code_truth.match`` scores the extractor's units against them, as
``bench/code_accuracy.py --langs javascript`` does for every project. express is small but made of the
patterns that were lost before: ``app.use = function use(fn) {...}``, ``res.send = function send(body)``,
``exports = module.exports = createApplication``, prototype methods, JSDoc on each.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

from code_truth import CACHE, git_copy, match, skipped_by_content, source_files  # noqa: E402
from truth_js import projects, truth  # noqa: E402

from crawlers.code.extract import extract_repos  # noqa: E402
from crawlers.code.filters import FilterConfig  # noqa: E402

MIN_F1 = 0.98
MIN_DOC = 0.97
MIN_FUNCTIONS = 100


@pytest.fixture(scope="module")
def project():
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed to fetch the package and run the TypeScript compiler")
    try:
        (found,) = projects(CACHE / "js", small=True)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"the npm registry did not answer: {exc}")
    return found


def test_express_functions_and_docs_match_the_typescript_compiler(project, tmp_path):
    files = [f for f in source_files(project, ("javascript",)) if not skipped_by_content(project.root, f)]
    truths = truth(project, files)
    repo = git_copy(project, files, tmp_path / "repo")
    units = extract_repos([str(repo)], cfg=FilterConfig.off(), workers=1)
    units = units[units["kind"].isin(["function", "method"])].to_dict("records")
    score = match(truths, units)
    print(f"{project.name}: truth {score.truth} P {score.precision:.3f} R {score.recall:.3f} F1 {score.f1:.3f} "
          f"doc {score.doc_agreement:.3f} ({score.doc_compared} compared)")  # fmt: skip
    assert score.truth >= MIN_FUNCTIONS
    assert score.f1 >= MIN_F1, (score.misses, score.extras)
    assert score.doc_agreement >= MIN_DOC, score.doc_diffs
    # The assignment-named functions the extractor used to lose, by the name they are assigned to.
    names = {(u["path"], u["qualified_name"]) for u in units}
    assert {
        ("lib/application.js", "app.use"),
        ("lib/response.js", "res.send"),
        ("lib/router/index.js", "proto.route"),
    } <= names
