"""Entry point Claude Code runs for every Cairn hook (through hooks/run.sh).

Thin on purpose: puts the plugin's `lib/` on the path and hands over to
`cairn.hooks.main`, which never raises and always exits 0.
"""

from __future__ import annotations

import os
import sys

_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib")
sys.path.insert(0, os.path.normpath(_LIB))

from cairn.hooks import main  # noqa: E402 - the path is set up just above

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], sys.stdin.buffer, sys.stdout, os.environ))
