"""The panel's ASGIApp application (Starlette): pages rendered on the server with Jinja2
(autoescaped), a small script, and JSON actions.

Nothing answers without the token: every path is `/<token>/...` and anything else gets
403. The Host header must name this server (127.0.0.1 or localhost on its port: a page
on another site cannot reach it by rebinding a DNS name). Actions are POSTs of JSON whose
Origin is this server's, under the token; a cross-site form cannot send JSON, nor know the
token. Responses forbid framing, sniffing, referrers (the token is in the URL) and caching,
and a Content-Security-Policy allows only the panel's own script and styles.

Handlers are coroutines: the library's calls run one at a time on the event loop thread
(one SQLite connection, used by one thread).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn import accounting
from cairn.errors import CairnError, StoreError, UnknownAgent, UsageError, WorkflowNotFound
from cairn.humanize import duration
from cairn.manager import CheckpointManager
from cairn.offer import db_stamp
from cairn.paths import check_workflow_id
from cairn.web import charts, views

ACTIONS = ("resume", "restart", "hold", "approve", "reject", "cleanup")
MAX_BODY = 16_384
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def status_of(exc: CairnError) -> int:
    """404 no such workflow, 400 a bad request (id, stage, body), 503 the database is busy
    or broken, 409 the workflow's state refuses it (finished, not resumable, held)."""
    if isinstance(exc, WorkflowNotFound):
        return 404
    if isinstance(exc, (UsageError, UnknownAgent)):
        return 400
    return 503 if isinstance(exc, StoreError) else 409


class Guard:
    """The token, the Host and, for anything but GET/HEAD, the Origin: checked before any
    route runs, with the security headers added to every answer."""

    def __init__(self, app: ASGIApp, token: str, port: int) -> None:
        self.app = app
        self.prefix = f"/{token}".encode()
        self.hosts = {f"127.0.0.1:{port}".encode(), f"localhost:{port}".encode()}
        self.origins = {b"http://" + h for h in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope.get("raw_path")
        path = (raw if isinstance(raw, bytes) else str(scope.get("path", "")).encode()).split(b"?", 1)[0]
        n = len(self.prefix)
        headers = Headers(scope=scope)
        why = None
        if not hmac.compare_digest(path[:n], self.prefix) or path[n:n + 1] not in (b"/", b""):
            why = "this panel answers only at the URL `cairn ui` printed (with its token)"
        elif headers.get("host", "").encode() not in self.hosts:
            why = "wrong Host: open the panel at the 127.0.0.1 address `cairn ui` printed"
        elif scope.get("method") not in ("GET", "HEAD"):
            origin = headers.get("origin", "").encode()
            site = headers.get("sec-fetch-site", "same-origin")
            if origin not in self.origins or site != "same-origin":
                why = "actions are accepted only from the panel's own page (Origin)"
        if why is not None:
            await PlainTextResponse(f"403 forbidden: {why}\n", status_code=403, headers=HEADERS)(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message.get("type") == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)
        await self.app(scope, receive, secured)


class Panel:
    """The routes, over one `CheckpointManager` (the project's artifacts folder)."""

    def __init__(self, manager: CheckpointManager, token: str) -> None:
        self.m = manager
        self.token = token
        self.env = Environment(loader=PackageLoader("cairn.web", "templates"),
                               autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)

    # ------------------------------------------------------------------ helpers
    def stamp(self) -> str:
        """A short digest of the database's change stamp: moves with every commit."""
        raw = db_stamp(str(self.m.root)) or "none"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def page(self, name: str, seen: str, status: int = 200, **values: object) -> HTMLResponse:
        """A page showing the database as of stamp `seen`, read BEFORE its data: a commit
        landing while the page is computed leaves the page an older stamp, so the script
        fetches it again (the other order could show old data under a new stamp forever)."""
        html = self.env.get_template(name).render(base=f"/{self.token}", root=str(self.m.root),
                                                  stamp=seen, legend=views.LEGEND, **values)
        return HTMLResponse(html, status_code=status)

    def failed(self, exc: CairnError, seen: str) -> HTMLResponse:
        return self.page("error.html", seen, status_of(exc), message=exc.message, hint=exc.hint)

    # ------------------------------------------------------------------ pages
    async def panel(self, request: Request) -> Response:
        seen = self.stamp()
        try:
            return self.page("panel.html", seen, cards=views.cards(self.m), title="Resumable workflows")
        except CairnError as exc:
            return self.failed(exc, seen)

    async def details(self, request: Request) -> Response:
        from cairn.dashboard import detail

        seen = self.stamp()
        try:
            wid = check_workflow_id(str(request.path_params["wid"]))
            wf = self.m.load(wid)
            return self.page("details.html", seen, wf=wf, card=views.card(self.m, wid) if views.is_open(wf) else None,
                             detail=detail(self.m, wid, history_limit=len(wf.marks) or 1),
                             tokens=lambda a: accounting.usage(a).tokens, duration=duration, title=f"Workflow {wid}")
        except CairnError as exc:
            return self.failed(exc, seen)

    async def history(self, request: Request) -> Response:
        seen = self.stamp()
        workflows = []
        if self.m.exists():
            with self.m.store.read() as r:
                workflows = [wf for wf in (r.workflow(i) for i in r.ids()) if wf is not None]
        data, drawn = charts.history(workflows, str(Path(self.m.root) / "cairn.db"))
        return self.page("history.html", seen, data=data, charts=drawn, title="History")

    async def stamp_json(self, request: Request) -> Response:
        return JSONResponse({"stamp": self.stamp()})

    # ------------------------------------------------------------------ actions
    async def action(self, request: Request) -> Response:
        try:
            wid = check_workflow_id(str(request.path_params["wid"]))
            verb = str(request.path_params["action"])
            if verb not in ACTIONS:
                raise UsageError(f"unknown action {verb[:40]!r}", hint="one of: " + ", ".join(ACTIONS))
            body = await self._json(request)
            stage, feedback = body.get("stage"), body.get("feedback")
            done = views.act(self.m, wid, verb, stage=stage if isinstance(stage, str) and stage else None,
                             feedback=feedback if isinstance(feedback, str) else None)
        except CairnError as exc:
            return JSONResponse({"ok": False, "message": exc.message, "fix": exc.hint}, status_code=status_of(exc))
        return JSONResponse({"ok": True, "message": done.message, "command": done.command})

    @staticmethod
    async def _json(request: Request) -> dict[str, object]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise UsageError("actions take a JSON body", hint="send Content-Type: application/json")
        raw = b""
        async for chunk in request.stream():  # read no more than the limit, whatever the sender says
            raw += chunk
            if len(raw) > MAX_BODY:
                raise UsageError(f"the request body is over {MAX_BODY} bytes", hint="send a smaller JSON body")
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise UsageError("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise UsageError("the request body must be a JSON object")
        return data


def build(manager: CheckpointManager, token: str, port: int) -> ASGIApp:
    panel = Panel(manager, token)
    routes = [
        Route("/", panel.panel),
        Route("/history", panel.history),
        Route("/w/{wid}", panel.details),
        Route("/api/stamp", panel.stamp_json),
        Route("/api/w/{wid}/{action}", panel.action, methods=["POST"]),
        Mount("/static", app=StaticFiles(packages=[("cairn.web", "static")]), name="static"),
    ]
    app = Starlette(routes=[Mount(f"/{token}", routes=routes)])
    return Guard(app, token, port)
