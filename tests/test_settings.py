"""Production refuses to start with a default secret or key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "s" * 50


def load_settings(**env):
    clean = {"PATH": os.environ["PATH"], "WEBMAIL_ENV_FILE": os.devnull, **env}
    return subprocess.run(
        [sys.executable, "-c", "import webmail.settings"],
        cwd=ROOT, env=clean, capture_output=True, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("secret", ["", "change-me", "short"])
def test_a_default_secret_key_is_refused(secret):
    result = load_settings(
        SECRET_KEY=secret, WEBMAIL_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    assert result.returncode != 0
    assert "SECRET_KEY is unset or a placeholder" in result.stderr


@pytest.mark.parametrize("keys", ["", "change-me"])
def test_a_missing_encryption_key_is_refused(keys):
    result = load_settings(SECRET_KEY=GOOD_SECRET, WEBMAIL_ENCRYPTION_KEYS=keys)
    assert result.returncode != 0
    assert "WEBMAIL_ENCRYPTION_KEYS is unset or a placeholder" in result.stderr


def test_real_values_start():
    result = load_settings(
        SECRET_KEY=GOOD_SECRET, WEBMAIL_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    assert result.returncode == 0, result.stderr


def test_debug_mode_starts_without_them():
    assert load_settings(DEBUG="1").returncode == 0
