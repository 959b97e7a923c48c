"""A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary
folder, the server on a free port with its socket in that folder, trust authentication
for the local user. As root the server runs as the `postgres` user (PostgreSQL refuses
root). Nothing is mocked: it is the system's PostgreSQL (`.ci/install-postgres.sh`)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def binaries() -> Path | None:
    """The newest installed server's bin folder (Debian's layout), or one on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="cairn-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        os.chmod(self.dir, 0o755)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    # A role that must give its password (SCRAM over TCP): the tests of the password's paths.
    PASSWORD_ROLE, PASSWORD = "cairn_pw", "s3cret-Pw-9"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
        hba = self.data / "pg_hba.conf"
        rule = f"host all {self.PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
        text = hba.read_text()
        hba.write_text(rule + text)  # first match wins: before the trust rules

    def password_url(self) -> str:
        """The address of the password role (no password in it)."""
        return f"postgresql://{self.PASSWORD_ROLE}@127.0.0.1:{self.port}/postgres"

    def add_password_role(self) -> None:
        sql = (f"CREATE ROLE {self.PASSWORD_ROLE} LOGIN PASSWORD '{self.PASSWORD}'; "
               f"GRANT CREATE ON DATABASE postgres TO {self.PASSWORD_ROLE}")
        self._run("psql", "-h", str(self.dir), "-p", str(self.port), "-U", self.user, "-d", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-c", sql)

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on "
                "-c max_connections=100 -c shared_buffers=32MB")
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w", "-t", "60",
                  "start")

    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill(self) -> None:
        """The postmaster killed hard (SIGKILL): what a crashed server leaves. Returns once it is gone."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)
        raise TimeoutError(f"postmaster {pid} still there 30 s after SIGKILL")

    def restart(self) -> None:
        """Start again after a kill (its backends may take a moment to notice and exit:
        until then the server refuses to start on their shared memory)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                self.start()
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb); run .ci/install-postgres.sh")
    c = Cluster(bin_dir)
    try:
        c.init()
        c.start()
        c.add_password_role()
        yield c
    finally:
        c.stop()
