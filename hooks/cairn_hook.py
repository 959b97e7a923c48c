"""Entry point Claude Code runs for every Cairn hook (through hooks/run.sh).

Thin on purpose: puts the plugin's `lib/` on the path and hands over to
`cairn.hooks.main`, which never raises and always exits 0.

A hook is a short process: the cyclic garbage collector is switched off (nothing here
lives long enough to leak), and the process ends with `os._exit` once its answer is
flushed: the interpreter's own shutdown (a final collection over every imported module,
closing the database, which checkpoints and deletes its WAL) costs a hook ~10-15 ms and
does nothing for it. Every write was committed before `main` returned.
"""

from __future__ import annotations

import gc
import os
import sys

gc.disable()
_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib")
sys.path.insert(0, os.path.normpath(_LIB))

from cairn.hooks import main  # noqa: E402 - the path is set up just above

if __name__ == "__main__":
    code = main(sys.argv[1:], sys.stdin.buffer, sys.stdout, os.environ)
    sys.stdout.flush()
    os._exit(code)
