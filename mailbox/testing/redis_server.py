"""A private redis-server for tests that stop Redis and start it again (the shared one on 6379
must never be stopped: other tests use it). No Django here.

Nothing is saved to disk: what was in it is gone after a restart, as after a crash without
persistence; whatever must survive lives in the database.
"""

import shutil
import subprocess
import tempfile

from .servers import free_port, stop_process, wait_for_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """redis-server on 127.0.0.1:``port`` (a free one by default); ``url`` for its db 0.
    ``stop()`` then ``start()`` brings it back on the same port."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = tempfile.mkdtemp(prefix="webmail-redis-")
        self.process = None

    def start(self):
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", self.directory]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for_port(self.port, timeout=10)
        return self

    def stop(self):
        stop_process(self.process)

    def close(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
