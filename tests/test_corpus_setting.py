"""The corpus path is a setting (MAILDESK_CORPUS); under CI a missing corpus stops the run
instead of skipping its tests silently."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def _pytest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "MAILDESK_CORPUS")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "tests/test_docs.py::test_readme_starts_with_the_two_fresh_machine_commands"],
        cwd=REPO, env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_missing_corpus_fails_under_ci() -> None:
    done = _pytest({"CI": "true", "MAILDESK_CORPUS": "/nonexistent/corpus"})
    assert done.returncode == 4, done.stdout + done.stderr
    assert "the mail corpus is not at /nonexistent/corpus" in done.stderr


def test_missing_corpus_is_named_outside_ci() -> None:
    done = _pytest({"MAILDESK_CORPUS": "/nonexistent/corpus"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mail corpus: /nonexistent/corpus (MISSING" in done.stdout
