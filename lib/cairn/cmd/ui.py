"""`cairn ui`: the local web panel (`cairn.web`) on 127.0.0.1, on a free port, behind a
random token in the URL it prints; `--open` opens it in the browser. Runs until Ctrl+C.

Starlette, Jinja2 and uvicorn are imported only when the command runs (the CLI's
dependencies; no hook imports them)."""

from __future__ import annotations

import argparse
import secrets
import socket
import sys

from cairn.cmd.common import Subparsers, artifacts_root, claude_session, manager
from cairn.errors import EXIT_OK, UsageError

HOST = "127.0.0.1"  # never another interface: the panel changes workflows


def listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: a free one, chosen by the kernel). It listens
    before the URL is printed, so a browser opened at once waits in the backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {HOST}:{port}: {exc.strerror}",
                         hint="choose another --port, or leave it out for a free one") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def cmd_ui(args: argparse.Namespace) -> int:
    import uvicorn

    from cairn.web.app import build

    if claude_session() is not None:  # the panel approves breakpoints: it is the person's, not the model's
        raise UsageError("`cairn ui` is for the person: it can approve a breakpoint the Claude session is waiting at",
                         hint="run it in a terminal of your own (cairn ui --open)")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port", hint="give 1-65535, or 0 for a free one")
    m = manager(args)
    sock = listen(args.port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    url = f"http://{HOST}:{port}/{token}/"
    print(f"Cairn panel for {artifacts_root(args)}\n  {url}\n"
          "The token in the URL is the key to this panel: do not share it. Ctrl+C stops it.", flush=True)
    if args.open:
        import webbrowser

        if not webbrowser.open(url):
            print("cairn: no browser could be opened here; open the URL above yourself", file=sys.stderr)
    config = uvicorn.Config(build(m, token, port), log_level="warning", access_log=False, lifespan="off",
                            server_header=False, date_header=False)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down, then hands Ctrl+C on: the normal way out
        pass
    finally:
        sock.close()
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "ui", help="the local web panel: resumable workflows, actions, history charts",
        description="Serve a web panel on 127.0.0.1 (a free port unless --port): a card per resumable "
        "workflow with its readiness checks and buttons (Resume, View details, Restart from a stage, "
        "Breakpoint before a stage, Cleanup, Approve/Reject at a breakpoint), and a history page with charts. "
        "The URL it prints carries a random token; nothing answers without it. Runs until Ctrl+C.",
        epilog="Exit codes: 0 stopped with Ctrl+C, 2 usage error (e.g. the port is taken), 3 a missing "
        "package (starlette, uvicorn, jinja2 come with Cairn's own dependencies; the message names the fix).")
    p.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default: a free one)")
    p.add_argument("--open", action="store_true", help="open the panel in the browser")
    p.set_defaults(handler=cmd_ui, json=False)
