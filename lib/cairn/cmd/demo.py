"""`cairn demo`: placeholder registered until the hooks exist."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    return None
