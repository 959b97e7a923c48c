"""Set up Cairn's Python dependencies in ${CLAUDE_PLUGIN_DATA}/venv, once.

Run in the background by hooks/run.sh at SessionStart (Claude Code installs no Python
packages for a plugin). Standard library only. One bootstrap at a time (a lock file);
success leaves `<stamp>.ok`, failure `<stamp>.failed` and the details in bootstrap.log,
which the next SessionStart reports in one line before retrying.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def bootstrap(data: Path, stamp: str, requirements: str = "requirements.txt") -> int:
    """`requirements`: the file under hooks/ to install (requirements-postgres.txt adds
    psycopg, when a hook finds a shared store configured and cannot import it)."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    ok = data / f"{stamp}.ok"
    if ok.exists():
        return 0
    lock_fd = os.open(data / "bootstrap.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another session is already at it
    log = data / "bootstrap.log"
    venv = data / "venv"
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} bootstrap {stamp}\n")
        out.flush()
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "-r", str(HERE / requirements)],
        ]
        for cmd in steps:
            if cmd[1:3] == ["-m", "venv"] and (venv / "bin" / "python").exists():
                continue
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=600).returncode
            if rc != 0:
                out.write(f"failed ({rc}): {' '.join(cmd)}\n")
                (data / f"{stamp}.failed").write_text(f"{' '.join(cmd[:3])} exited {rc}\n")
                return 1
    ok.write_text("ok\n")
    for leftover in (f"{stamp}.failed", f"{stamp}.reported"):
        (data / leftover).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(bootstrap(Path(sys.argv[1]), sys.argv[2], *sys.argv[3:4]))
