"""The embedded mode end to end: `python -m webmail.launcher run` (what `make run` starts) on
SQLite, in a var/ dir as an earlier version left it (an empty database readable by everyone), with
no Redis at REDIS_URL so that it starts its own. Everything under var/ ends up private."""

import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

from mailbox.testing.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def wait_for(url, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def open_to_others(var):
    """What under var/ (var/ too) is not private to the service's user: 0700 directories and 0600
    files, as var/webmail.env always was."""
    found = []
    for path in [var, *var.rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # a journal that came and went
            continue
        wanted = 0o700 if stat.S_ISDIR(mode) else 0o600
        if not stat.S_ISLNK(mode) and stat.S_IMODE(mode) != wanted:
            found.append(f"{path.relative_to(var.parent)} {oct(stat.S_IMODE(mode))}")
    return found


@pytest.fixture
def launched(tmp_path):
    port, redis_port = free_port(), free_port()
    var = tmp_path / "var"
    var.mkdir()
    (var / "webmail.sqlite3").touch()  # SQLite takes an empty file for an empty database
    for path, mode in ((var, 0o755), (var / "webmail.sqlite3", 0o644)):
        path.chmod(mode)  # as `make run` left them before it made them private
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "WEBMAIL_VAR_DIR": str(tmp_path / "var"),
        "PORT": str(port),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "webmail.launcher", "run"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    yield process, f"http://127.0.0.1:{port}", tmp_path / "var"
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def test_make_run_serves_a_working_webmail_on_sqlite(launched):
    process, base, var = launched
    try:
        status, body = wait_for(base + "/login/")
    except OSError:
        process.terminate()
        pytest.fail(process.communicate(timeout=20)[0][-4000:])
    assert status == 200 and "Log in" in body
    assert wait_for(base + "/healthz")[1] == '{"status": "ok"}'
    assert (var / "webmail.sqlite3").exists()
    assert (var / "redis").is_dir()  # its private Redis
    env_file = (var / "webmail.env").read_text()
    assert re.search(r"^SECRET_KEY=\S{40,}$", env_file, re.M)
    assert oct((var / "webmail.env").stat().st_mode & 0o777) == "0o600"
    # the database, the private Redis's files and everything else: the service's user's only
    assert (var / "redis" / "redis.log").exists()
    assert open_to_others(var) == []

    # the printed first administrator can log in
    password = (var / "initial-admin-password.txt").read_text().strip()
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base + "/login/").read()
    token = next(c.value for c in jar if c.name == "csrftoken")
    request = urllib.request.Request(
        base + "/login/",
        data=urlencode(
            {"username": "admin", "password": password, "csrfmiddlewaretoken": token}
        ).encode(),
        headers={"Referer": base + "/login/"},
    )
    with opener.open(request) as response:
        assert response.url.endswith("/accounts/")
        assert "Mail accounts" in response.read().decode()

    # one Ctrl-C stops everything
    os.killpg(process.pid, signal.SIGINT)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output[-3000:]
    assert "Created the administrator 'admin'" in output
    assert f"[webmail] open {base.replace('127.0.0.1', 'localhost')}/" in output  # once it answered
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/login/", timeout=2)
    assert (var / "redis" / "dump.rdb").exists()  # saved as the private Redis stopped
    assert open_to_others(var) == []
