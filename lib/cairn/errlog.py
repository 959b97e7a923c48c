"""One-line error log for failures that must not reach the user as a traceback
(hooks failing open, internal CLI errors). Lives in `<artifacts>/.logs/cairn.log`."""

from __future__ import annotations

import os
import stat
import time
import traceback
from pathlib import Path

from cairn.redact import redact
from cairn.safefs import ensure_dir

LOG_DIR = ".logs"
LOG_FILE = "cairn.log"
_MAX_BYTES = 1 << 20


def log_path(root: Path) -> Path:
    return root / LOG_DIR / LOG_FILE


def log_error(root: Path, where: str, exc: BaseException) -> Path:
    """Append one line describing `exc` (and its innermost frame); rotate at 1 MiB."""
    path = log_path(root)
    ensure_dir(path.parent)
    tb = traceback.extract_tb(exc.__traceback__)
    frame = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    # one line, no control characters, no credential: the log is plain text anyone may read
    message = redact("".join(c if c.isprintable() else " " for c in str(exc)))[:500]
    line = (f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {where}: "
            f"{type(exc).__name__}: {message}{frame}\n")
    try:
        if os.lstat(path).st_size > _MAX_BYTES:
            os.replace(path, path.with_suffix(".log.1"))
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:  # a FIFO, or a hard link to a file outside
            raise OSError(f"{path} is not a regular file of Cairn's; nothing written")
        os.write(fd, line.encode("utf-8", "replace"))
    finally:
        os.close(fd)
    return path
