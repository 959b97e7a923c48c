"""Optional packages on a hook's path. Hooks start Python without site-packages (`-S`, to
stay fast); on the plugin's own environment hooks/run.sh sets CAIRN_SITE=1, and
site-packages are added only when something needs a package from there (jsonschema for a
project's own schema, psycopg for a shared store). Standard library only."""

from __future__ import annotations

import os
import sys


def importable(module: str) -> bool:
    """Whether `module` can be imported now, adding site-packages once where allowed."""
    try:
        __import__(module)
    except ImportError:
        if not sys.flags.no_site or os.environ.get("CAIRN_SITE") != "1":
            return False
        import site

        site.main()
        try:
            __import__(module)
        except ImportError:
            return False
    return True
