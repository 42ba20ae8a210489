"""The launcher keeps `make run` going when a background process dies (a Celery worker can exit
when Redis goes away under it): the worker, beat and the watcher are started again, as compose's
`restart: unless-stopped` does; one that keeps dying, or the web server exiting, stops all."""

import subprocess
import sys

import pytest

from webmail import launcher


@pytest.fixture(autouse=True)
def no_signal_handlers(monkeypatch):
    monkeypatch.setattr(launcher.signal, "signal", lambda *args: None)  # pytest keeps its own


def popen(code):
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_worker_that_exits_is_started_again_and_one_that_keeps_dying_stops_everything():
    web = popen("import time; time.sleep(60)")
    processes = [("web", web), ("worker", popen("raise SystemExit(3)"))]
    started = []

    def restart(old):
        assert old.returncode == 3
        started.append(popen("raise SystemExit(3)"))
        return started[-1]

    assert launcher.supervise(processes, restart=restart) == 1
    assert len(started) == launcher.MAX_RESTARTS  # then it was left to stop everything
    assert web.wait(15) is not None  # and the web server was stopped with it


def test_a_worker_that_dies_once_keeps_running_after_its_restart():
    web = popen("import time; time.sleep(60)")
    processes = [("web", web), ("worker", popen("raise SystemExit(1)"))]
    started = []

    def restart(old):
        started.append(popen("import time; time.sleep(60)"))
        web_ends_soon = popen("import time; time.sleep(1.5)")  # then the web server "exits"
        processes[0] = ("web", web_ends_soon)
        web.terminate()
        return started[-1]

    assert launcher.supervise(processes, restart=restart) == 1  # ended by the web server
    assert len(started) == 1
    assert started[0].wait(15) is not None  # the restarted worker was stopped at the end


def test_the_web_server_exiting_is_not_restarted():
    processes = [
        ("web", popen("raise SystemExit(1)")),
        ("worker", popen("import time; time.sleep(60)")),
    ]
    restarted = []
    assert launcher.supervise(processes, restart=restarted.append) == 1
    assert restarted == []
