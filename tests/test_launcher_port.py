"""`make run` and `make demo` when the web port is taken: the launcher says so and exits with 1,
and never tells the user to open a page that nothing of ours serves."""

import os
import signal
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mailbox.testing.servers import free_port
from webmail.launcher import web_answers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def taken_port():
    """A port something else already listens on, as a forgotten `make run` would."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def launch(tmp_path, port, code=None, timeout=30):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PORT": str(port),
           "WEBMAIL_VAR_DIR": str(tmp_path / "var"),
           "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}  # fmt: skip
    command = ["-c", code] if code else ["-m", "webmail.launcher", "run"]
    process = subprocess.Popen(
        [sys.executable, *command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        output = process.communicate(timeout=timeout)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, output


def test_a_taken_port_is_said_at_once_and_nothing_is_started(tmp_path, taken_port):
    code, output = launch(tmp_path, taken_port, timeout=15)
    assert code == 1, output
    assert f"port {taken_port} on 127.0.0.1 is not free" in output
    assert f"PORT={taken_port + 1} make run" in output
    assert "open http" not in output and "Traceback" not in output
    assert not (tmp_path / "var").exists()  # no database, no Redis, no keys: nothing begun


@pytest.mark.slow
def test_a_port_taken_while_it_starts_stops_everything_without_open(tmp_path, taken_port):
    """The port taken after the launcher's look (during the migrations, the demo's seeding):
    daphne cannot listen, and the launcher stops everything instead of saying "open"."""
    late = ("import sys, webmail.launcher as launcher; "
            "launcher.check_port_free = lambda host, port: None; "
            "sys.exit(launcher.main(['run']))")  # fmt: skip
    code, output = launch(tmp_path, taken_port, code=late, timeout=110)
    assert code == 1, output[-3000:]
    assert "web exited with code 1: stopping everything" in output, output[-3000:]
    assert "open http" not in output


def test_the_web_server_counts_as_up_only_once_it_answers_http(taken_port):
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    assert web_answers("127.0.0.1", free_port(), exited, timeout=5) is False
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)  # answers 501
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert web_answers("127.0.0.1", server.server_address[1], running, timeout=5) is True
        # a port that only accepts (what took it is not a web server): not up, however long
        assert web_answers("127.0.0.1", taken_port, running, timeout=3) is False
    finally:
        server.shutdown()
        server.server_close()
        running.kill()
        running.wait()
