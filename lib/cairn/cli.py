"""The `cairn` command line: `main(argv) -> int`, the one boundary where Cairn's
exception tree becomes exit codes (0 ok, 1 problem / not resumable, 2 usage,
3 internal error with a pointer to the log).

Every command runs on the standard library alone when the project has no
`.claude/cairn.yaml`; a package that a command does need and that is missing (PyYAML
for cairn.yaml) is reported in one line with what to do, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from cairn import __version__
from cairn.errors import EXIT_INTERNAL, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, CairnError

Handler = Callable[[argparse.Namespace], int]

# Packages a command may need beyond the standard library: import name -> (pip name, why).
OPTIONAL = {
    "yaml": ("pyyaml", "to read .claude/cairn.yaml"),
    "jsonschema": ("jsonschema", "to check a project's own JSON Schemas"),
    "pydantic": ("pydantic", "for the checkpoint models"),
    "starlette": ("starlette", "for `cairn ui`"),
    "uvicorn": ("uvicorn", "for `cairn ui`"),
    "jinja2": ("jinja2", "for `cairn ui`"),
}
# What an unexpected bug raises: reported as an internal error (exit 3) with a log line.
BUGS: tuple[type[BaseException], ...] = (
    ArithmeticError, AssertionError, AttributeError, LookupError, NameError, OSError,
    RuntimeError, TypeError, ValueError, ImportError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgError(f"{self.prog}: {message}\n  fix: see `{self.prog} --help`")


class _ArgError(Exception):
    pass


# Which module defines each command: a run imports only the module of its own command
# (importing all of them costs ~45 ms), `--help` and unknown words import every one.
MODULES = {"start": "core", "checkpoint": "core", "validate": "core", "status": "status", "list": "status",
           "show": "status", "resume": "resume_modes", "pause": "resume_modes", "cancel": "resume_modes",
           "log": "log", "history": "history", "cleanup": "cleanup", "watch": "watch", "doctor": "doctor",
           "demo": "demo", "approve": "approval", "reject": "approval", "ui": "ui", "store": "store", "fork": "fork"}
ALL = ("core", "status", "resume_modes", "fork", "log", "history", "cleanup", "watch", "doctor", "demo", "approval",
       "ui", "store")


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of `argv` (after the global options), if any."""
    words = iter(argv)
    for word in words:
        if word == "--dir":
            next(words, None)
        elif not word.startswith("-"):
            return word
        elif word in ("-h", "--help", "--version"):
            return None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    import importlib

    command = _command_of(argv) if argv is not None else None
    names = (MODULES[command],) if command in MODULES else ALL
    parser = _Parser(prog="cairn", description="Resumable multi-agent pipelines for Claude Code.",
                     epilog="Exit codes: 0 ok, 1 problem found or not resumable, 2 usage error, "
                     "3 internal error (see the log it names) or a missing package.")
    parser.add_argument("--version", action="version", version=f"cairn {__version__}")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit 0 even when a problem is found (for slash commands, whose "
                        "shell lines must succeed to show their output)")
    parser.add_argument("--dir", type=Path, default=None, metavar="PATH",
                        help="artifacts folder (default: $CLAUDE_PROJECT_DIR/.claude/artifacts, "
                        "else ./.claude/artifacts)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in names:
        importlib.import_module(f"cairn.cmd.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words)
    try:
        args = parser.parse_args(words)
    except _ArgError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from cairn.cmd import common

    common.start_run()
    try:
        code = _run(handler, args)
    except CairnError as exc:
        # With --exit-zero (slash commands) the message must reach the model: stdout.
        print(f"cairn: {exc}", file=sys.stdout if args.exit_zero else sys.stderr)
        code = exc.exit_code
    for note in common.end_run():
        print(f"cairn: note: {note}", file=sys.stderr)
    return 0 if args.exit_zero and code in (EXIT_PROBLEM, EXIT_USAGE) else code


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run a command; Cairn's own errors pass through, anything else is reported."""
    try:
        code = handler(args)
        sys.stdout.flush()
        return code
    except CairnError:
        raise
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (`| head -1`): stop quietly
        return EXIT_OK
    except KeyboardInterrupt:
        print("cairn: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        if exc.name in OPTIONAL:
            print(missing_package(exc.name or ""), file=sys.stderr)
            return EXIT_INTERNAL
        return _internal(args, exc)
    except (OSError, sqlite3.DatabaseError) as exc:
        from cairn import disk

        failure = disk.error(exc, _where(args, exc), "")
        if failure is not None:  # full, read-only, not ours to write: plain words, not a bug report
            print(f"cairn: {failure}", file=sys.stderr)
            return failure.exit_code
        if isinstance(exc, OSError):
            return _internal(args, exc)
        print(f"cairn: the database under {_root(args)} cannot be read: {exc}\n"
              "  fix: run `cairn doctor`, which rebuilds it from the checkpoint.json files", file=sys.stderr)
        return EXIT_PROBLEM
    except BUGS as exc:  # the boundary: an unexpected bug becomes exit 3 + a log line
        return _internal(args, exc)


def missing_package(name: str) -> str:
    pip, why = OPTIONAL.get(name, (name, "for this command"))
    return (f"cairn: this command needs the Python package {pip} ({why}), which {sys.executable} does not "
            f"have; fix: `{sys.executable} -m pip install {pip}`, or run cairn through the plugin's bin/cairn "
            "once its setup has installed it")


def _where(args: argparse.Namespace, exc: BaseException) -> str:
    """The file an OSError names, else the artifacts folder."""
    name = getattr(exc, "filename", None)
    return os.fsdecode(name) if isinstance(name, (str, bytes)) else str(_root(args))


def _root(args: argparse.Namespace) -> Path:
    from cairn.cmd.common import artifacts_root

    return artifacts_root(args)


def _internal(args: argparse.Namespace, exc: BaseException) -> int:
    from cairn.errlog import log_error

    try:
        pointer = f"details in {log_error(_root(args), f'cli {args.command}', exc)}"
    except (OSError, CairnError):
        pointer = "the log could not be written"
    print(f"cairn: internal error: {type(exc).__name__}: {exc}\n  {pointer}; please report it", file=sys.stderr)
    return EXIT_INTERNAL


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to silence
        pass


def main_entry() -> None:
    sys.exit(main())
