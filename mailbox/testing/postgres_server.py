"""A private PostgreSQL cluster for tests that stop the database and start it again (the shared
one on 5432 must never be restarted: other tests use it). No Django here.

The server binaries come from Debian's postgresql package (/usr/lib/postgresql/<version>/bin);
``binaries()`` is None without them. As root, the cluster runs as the ``postgres`` user, since
PostgreSQL refuses to run as root.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from .servers import free_port, wait_for_port


def binaries():
    """The directory of the newest installed initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda path: int(Path(path).parent.parent.name))  # fmt: skip
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    """A cluster on 127.0.0.1:``port`` with trust authentication; ``url(name)`` for a database.
    ``stop()`` (a fast shutdown, as a restart does) then ``start()`` brings it back."""

    def __init__(self):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError(
                "PostgreSQL's server binaries are missing (apt-get install postgresql)"
            )
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="webmail-pg-"))
        self.data = self.directory / "data"
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwnam("postgres")
            os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--locale=C.UTF-8")  # fmt: skip

    def _run(self, program, *args):
        command = [str(self.bin / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60, cwd=self.directory)

    def url(self, name="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self):
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-o", options,
                  "-l", str(self.directory / "log"), "-w", "start")  # fmt: skip
        wait_for_port(self.port, timeout=30)
        return self

    def stop(self):
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.directory, ignore_errors=True)
