"""`cairn ui`: the local web panel (cairn.web)."""

from __future__ import annotations

import argparse

from cairn.cmd.common import Subparsers
from cairn.errors import EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser("ui", help="the local web panel")
    p.set_defaults(handler=cmd_ui)
