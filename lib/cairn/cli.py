"""The `cairn` command line: `main(argv) -> int`, the one boundary where Cairn's
exception tree becomes exit codes (0 ok, 1 problem / not resumable, 2 usage,
3 internal error with a pointer to the log)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cairn import __version__
from cairn.errors import EXIT_INTERNAL, EXIT_USAGE, CairnError

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgError(f"{self.prog}: {message}\n  fix: see `{self.prog} --help`")


class _ArgError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    from cairn.cmd import cleanup, core, demo, history, log, resume_modes, status, watch

    parser = _Parser(prog="cairn", description="Resumable multi-agent pipelines for Claude Code.",
                     epilog="Exit codes: 0 ok, 1 problem found or not resumable, 2 usage error, "
                     "3 internal error (see the log it names).")
    parser.add_argument("--version", action="version", version=f"cairn {__version__}")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit 0 even when a problem is found (for slash commands, whose "
                        "shell lines must succeed to show their output)")
    parser.add_argument("--dir", type=Path, default=None, metavar="PATH",
                        help="artifacts folder (default: $CLAUDE_PROJECT_DIR/.claude/artifacts, "
                        "else ./.claude/artifacts)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    core.register(sub)
    for module in (status, resume_modes, log, history, cleanup, watch):
        module.register(sub)
    demo.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(args_list)
    except _ArgError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code = _run(handler, args)
    except CairnError as exc:
        # With --exit-zero (slash commands) the message must reach the model: stdout.
        print(f"cairn: {exc}", file=sys.stdout if args.exit_zero else sys.stderr)
        code = exc.exit_code
    return 0 if args.exit_zero and code in (1, 2) else code


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command; Cairn's own errors pass through, anything else is a bug."""
    try:
        return handler(args)
    except CairnError:
        raise
    except KeyboardInterrupt:
        print("cairn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the boundary: an unexpected bug becomes exit 3 + a log line
        from cairn.cmd.core import artifacts_root
        from cairn.errlog import log_error

        try:
            where = log_error(artifacts_root(args), f"cli {args.command}", exc)
            pointer = f"details in {where}"
        except OSError:
            pointer = "the log could not be written"
        print(f"cairn: internal error: {type(exc).__name__}: {exc}\n  {pointer}; "
              "please report it", file=sys.stderr)
        return EXIT_INTERNAL


def main_entry() -> None:
    sys.exit(main())
