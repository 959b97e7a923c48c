from __future__ import annotations

import sys

from cairn.cli import main

sys.exit(main())
