"""Where the tests find the public corpora (``../shared/corpus`` beside the checkout; its
README says what each holds), and what happens when they are missing: on a developer's machine
the tests that read them skip; in CI (``CI=true``) the run fails, so that about a thousand cases
cannot go missing silently. Every test that reads the corpus goes through here."""

import os
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def absent(path: Path):
    """Skip the test (fail it in CI): its corpus ``path`` is missing. Never returns."""
    reason = f"corpus absent: {path}"
    if in_ci():
        pytest.fail(f"{reason} (CI must have shared/corpus beside the checkout)", pytrace=False)
    pytest.skip(reason)


def require(path: Path) -> Path:
    """``path`` when it exists (a folder: with something in it); else absent(path)."""
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        absent(path)
    return path


def absent_param(path: Path, width: int = 1):
    """The one parameter set (of ``width`` values) of a parametrized test whose corpus ``path``
    is missing: a skipped case; in CI, a collection error (pytest.fail while collecting fails
    the run)."""
    if in_ci():
        absent(path)
    return pytest.param(*[None] * width, marks=pytest.mark.skip(reason=f"corpus absent: {path}"))
