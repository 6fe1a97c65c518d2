"""The CLI's one error boundary: every expected failure becomes one line and exit status 2.

Exit statuses: 0 success (partial failures are summarised on stderr as ``warning:`` lines),
1 a usefulness verdict of ``fail``, 2 an expected failure (bad input, configuration, I/O,
network, or a stage that produced nothing), 3 an unexpected error (a bug: one line, and the
traceback only with ``--debug``), 130 interrupted. Typer's own usage errors keep their format.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable

from validate.errors import DataAgentError, where

EXIT_VERDICT_FAIL, EXIT_ERROR, EXIT_BUG, EXIT_VERDICT_INCONCLUSIVE, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
DEBUG_FLAG = "--debug"


def describe(exc: BaseException) -> str | None:
    """One line for an expected failure, or None when the exception is a bug."""
    if isinstance(exc, DataAgentError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 at byte {exc.start} ({exc.reason})"
    if isinstance(exc, OSError):
        # strerror is "No such file or directory", "Permission denied", "Is a directory"...
        what = exc.strerror or exc.__class__.__name__
        return what + where(exc.filename) if exc.filename else what
    text = _library_error(exc)
    if text is not None:
        return text
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg}" + where(None, line=exc.lineno, column=exc.colno)
    return None


def _library_error(exc: BaseException) -> str | None:
    """YAML, HTTP and Hub errors, recognised by module so their libraries load only when used."""
    module = type(exc).__module__
    first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
    if module.startswith("yaml"):
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or first
        return f"invalid YAML: {problem}" + where(
            getattr(mark, "name", None), line=None if mark is None else mark.line + 1
        )
    if module.startswith(("openai", "httpx", "huggingface_hub", "requests", "urllib3")):
        return f"{exc.__class__.__name__}: {first}"
    return None


def debug_requested(argv: list[str]) -> bool:
    """``--debug`` anywhere before ``--`` (it is taken out of argv), or DATAAGENT_DEBUG=1."""
    head = argv[: argv.index("--")] if "--" in argv else argv
    found = DEBUG_FLAG in head
    if found:
        argv.remove(DEBUG_FLAG)
    return found or os.environ.get("DATAAGENT_DEBUG", "") not in ("", "0")


def run_guarded(app: Callable[[], object], argv: list[str] | None = None) -> None:
    """Call ``app`` and turn whatever it raises into the exit status and one line on stderr."""
    argv = sys.argv if argv is None else argv
    debug = debug_requested(argv)
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except BaseException as exc:  # noqa: BLE001 - this is the boundary; everything ends here
        line = describe(exc)
        if debug:
            traceback.print_exc()
        if line is not None:
            print(f"error: {line}", file=sys.stderr)
            sys.exit(EXIT_ERROR)
        hint = "" if debug else "; rerun with --debug for the traceback"
        print(
            f"error: unexpected {exc.__class__.__name__}: {_first_line(exc)} (a bug in DataAgent{hint})",
            file=sys.stderr,
        )
        sys.exit(EXIT_BUG)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else "no message"
