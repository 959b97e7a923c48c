"""A fake Anthropic Messages API for driving the real Claude Code CLI in tests.

Standard library only. ``FakeAnthropic`` runs a ``ThreadingHTTPServer`` on
``127.0.0.1`` (port 0 = any free port) in a background thread, records every
request it gets and answers ``POST /v1/messages`` with scripted turns, streamed
as server-sent events exactly like the real API (``message_start``,
``content_block_start``/``_delta``/``_stop``, ``message_delta`` with the stop
reason and usage, ``message_stop``).

Scripting, in the order the server tries it for each ``/v1/messages`` request:

1. ``responder(request)`` if one is set. It may return a :class:`Turn`, a list
   of content blocks, a plain string (a text reply), or ``None`` to fall
   through to the queues below. It runs in the server's request thread, so it
   may sleep (e.g. to keep a subagent "working" while a test kills the client).
2. Side requests (no ``tools`` in the body: title generation, topic detection,
   ...) are answered with ``side_reply`` (default text "ok") and never consume
   a scripted turn.
3. The subagent queue (``script_subagent``) for requests that carry the
   ``x-claude-code-agent-id`` header, the main queue (``script_main``)
   otherwise.
4. When the relevant queue is empty: ``default_reply`` (text "ok", end_turn).

A responder that raises is recorded in ``FakeAnthropic.errors`` and the client
gets the default reply, so a bug in a test never hangs the client.

Example::

    with FakeAnthropic() as api:
        api.script_main(
            tool_turn("Agent", {"description": "d", "prompt": "p",
                                "subagent_type": "cairn:researcher",
                                "run_in_background": False}),
            text_turn("all done"),
        )
        api.script_subagent(
            tool_turn("Write", {"file_path": "/abs/x.txt", "content": "hi"}),
            text_turn("SUBAGENT-DONE"),
        )
        ...  # run claude with ANTHROPIC_BASE_URL=api.base_url
        assert api.subagent_requests()
"""

from __future__ import annotations

import copy
import gzip
import itertools
import json
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "AGENT_ID_HEADER",
    "Block",
    "FakeAnthropic",
    "Request",
    "Responder",
    "Turn",
    "error_turn",
    "text_block",
    "text_turn",
    "tool_turn",
    "tool_use_block",
]

AGENT_ID_HEADER = "x-claude-code-agent-id"

Block = dict[str, Any]
"""One content block of an assistant message, e.g. ``{"type": "text", "text": "hi"}``."""

_tool_ids = itertools.count(1)
_tool_ids_lock = threading.Lock()


def _next_tool_id() -> str:
    with _tool_ids_lock:
        return f"toolu_fake{next(_tool_ids):06d}"


# --------------------------------------------------------------------------- turns


@dataclass
class Turn:
    """One scripted assistant reply.

    ``stop_reason`` defaults to "tool_use" when a block is a tool_use, else
    "end_turn". ``delay_s`` sleeps before answering. ``http_status`` other than
    200 sends ``error`` as an API error body instead of a message.
    """

    blocks: list[Block] = field(default_factory=list)
    stop_reason: str | None = None
    delay_s: float = 0.0
    http_status: int = 200
    error: dict[str, Any] | None = None

    def resolved_stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        if any(b.get("type") == "tool_use" for b in self.blocks):
            return "tool_use"
        return "end_turn"


def text_block(text: str) -> Block:
    return {"type": "text", "text": text}


def tool_use_block(name: str, input: dict[str, Any], id: str | None = None) -> Block:
    return {"type": "tool_use", "id": id or _next_tool_id(), "name": name, "input": input}


def text_turn(text: str, *, delay_s: float = 0.0) -> Turn:
    """An assistant reply of plain text that ends the turn (stop_reason end_turn)."""
    return Turn(blocks=[text_block(text)], delay_s=delay_s)


def tool_turn(
    name: str,
    input: dict[str, Any],
    id: str | None = None,
    *,
    text: str | None = None,
    delay_s: float = 0.0,
) -> Turn:
    """An assistant reply calling one tool (stop_reason tool_use).

    ``text`` optionally precedes the tool call as a text block. ``id`` defaults
    to a fresh ``toolu_fakeNNNNNN``.
    """
    blocks: list[Block] = []
    if text:
        blocks.append(text_block(text))
    blocks.append(tool_use_block(name, input, id))
    return Turn(blocks=blocks, delay_s=delay_s)


def error_turn(
    status: int = 529, error_type: str = "overloaded_error", message: str = "Overloaded"
) -> Turn:
    """An API error answer (the client may retry: each retry is a new request)."""
    return Turn(
        http_status=status,
        error={"type": "error", "error": {"type": error_type, "message": message}},
    )


# --------------------------------------------------------------------------- requests


@dataclass
class Request:
    """One HTTP request the fake API received (any path)."""

    index: int
    method: str
    path: str  # path without query string, e.g. "/v1/messages"
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None
    raw_body: bytes
    received_at: float
    response: Turn | None = None  # what /v1/messages was answered with

    # -- identity ---------------------------------------------------------------
    @property
    def agent_id(self) -> str | None:
        """The ``x-claude-code-agent-id`` header: set on subagent requests only."""
        return self.headers.get(AGENT_ID_HEADER)

    @property
    def is_subagent(self) -> bool:
        return bool(self.agent_id)

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.path.rstrip("/") == "/v1/messages"

    @property
    def is_side_request(self) -> bool:
        """A /v1/messages call without tools (title generation, topic detection...)."""
        return self.is_messages and not self.tools

    @property
    def is_main(self) -> bool:
        """A main-agent turn: /v1/messages with tools and no agent-id header."""
        return self.is_messages and not self.is_subagent and bool(self.tools)

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    @property
    def model(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("model") or "claude-fake")
        return "claude-fake"

    # -- body parts -------------------------------------------------------------
    @property
    def system_text(self) -> str:
        """The ``system`` field as one string (blocks joined by newlines)."""
        if not isinstance(self.body, dict):
            return ""
        return _text_of(self.body.get("system"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            msgs: list[dict[str, Any]] = [m for m in self.body["messages"] if isinstance(m, dict)]
            return msgs
        return []

    @property
    def last_message(self) -> dict[str, Any] | None:
        """The last message of any role (this client also sends role "system" turns)."""
        msgs = self.messages
        return msgs[-1] if msgs else None

    @property
    def last_user_message(self) -> dict[str, Any] | None:
        """The last role "user" message (trailing role "system" messages are skipped)."""
        msgs = self.messages
        for i in range(len(msgs) - 1, -1, -1):
            role = msgs[i].get("role")
            if role == "user":
                return msgs[i]
            if role == "assistant":
                return None
        return None

    def system_messages_text(self) -> str:
        """Text of the mid-conversation role "system" messages (hook context lands here)."""
        return "\n".join(
            _text_of(m.get("content")) for m in self.messages if m.get("role") == "system"
        )

    @property
    def tools(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("tools"), list):
            return list(self.body["tools"])
        return []

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("name")) for t in self.tools]

    def tool(self, name: str) -> dict[str, Any] | None:
        """The tool definition (name, description, input_schema) the client offered."""
        for t in self.tools:
            if t.get("name") == name:
                return t
        return None

    def messages_text(self) -> str:
        """All text of all messages (text blocks and tool_result contents) joined."""
        return "\n".join(_text_of(m.get("content")) for m in self.messages)

    def all_text(self) -> str:
        """System text plus all message text: for "does the model see X" checks."""
        return self.system_text + "\n" + self.messages_text()

    def contains(self, needle: str) -> bool:
        """True if ``needle`` occurs anywhere in the system prompt or the messages."""
        return needle in self.all_text()

    @property
    def first_user_text(self) -> str:
        for m in self.messages:
            if m.get("role") == "user":
                return _text_of(m.get("content"))
        return ""

    @property
    def last_user_text(self) -> str:
        """Text of the last user message after the last assistant turn (tool results included)."""
        last = self.last_user_message
        return _text_of(last.get("content")) if last else ""

    def tool_results(self) -> list[Block]:
        """``tool_result`` blocks of the last user message (answers to the previous turn)."""
        last = self.last_user_message
        if not last or not isinstance(last.get("content"), list):
            return []
        return [
            b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"
        ]

    def all_tool_uses(self) -> list[Block]:
        """Every ``tool_use`` block of every assistant message in the conversation."""
        out: list[Block] = []
        for m in self.messages:
            if m.get("role") == "assistant" and isinstance(m.get("content"), list):
                out.extend(
                    b for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use"
                )
        return out

    def tool_use_by_id(self, tool_use_id: str) -> Block | None:
        for b in self.all_tool_uses():
            if b.get("id") == tool_use_id:
                return b
        return None

    def last_tool_result(self, tool_name: str | None = None) -> Block | None:
        """The last tool_result of the last user message, optionally only for ``tool_name``.

        The returned block gets an extra key ``"_tool_name"`` (the name of the
        tool_use it answers) for convenience; the recorded body is not changed.
        """
        for res in reversed(self.tool_results()):
            use = self.tool_use_by_id(str(res.get("tool_use_id")))
            name = use.get("name") if use else None
            if tool_name is None or name == tool_name:
                out = dict(res)
                out["_tool_name"] = name
                return out
        return None

    def answered_tools(self) -> list[str]:
        """Names of the tools whose results make up the last user message."""
        names: list[str] = []
        for res in self.tool_results():
            use = self.tool_use_by_id(str(res.get("tool_use_id")))
            names.append(str(use.get("name")) if use else "?")
        return names

    def summary(self) -> str:
        who = f"subagent {self.agent_id}" if self.is_subagent else "main"
        if not self.is_messages:
            return f"#{self.index} {self.method} {self.path}"
        kind = "side" if self.is_side_request else who
        return (
            f"#{self.index} {self.method} {self.path} [{kind}] msgs={len(self.messages)}"
            f" answered={self.answered_tools()} last_user={self.last_user_text[:80]!r}"
        )


def _text_of(content: Any) -> str:
    """Flatten a content value (string, block list, tool_result) into text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(c) for c in content)
    if isinstance(content, dict):
        t = content.get("type")
        if t == "text":
            return str(content.get("text", ""))
        if t == "tool_result":
            return _text_of(content.get("content"))
        if t == "tool_use":
            return json.dumps(content.get("input", {}))
        if "text" in content:
            return str(content["text"])
    return ""


ResponderResult = Turn | list[Block] | str | None
Responder = Callable[[Request], ResponderResult]


def _to_turn(result: ResponderResult) -> Turn | None:
    if result is None:
        return None
    if isinstance(result, Turn):
        return result
    if isinstance(result, str):
        return text_turn(result)
    if isinstance(result, list):
        return Turn(blocks=list(result))
    raise TypeError(f"responder returned {type(result).__name__}; want Turn, list, str or None")


# --------------------------------------------------------------------------- SSE


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _normalised_blocks(turn: Turn) -> list[Block]:
    blocks: list[Block] = []
    for b in turn.blocks:
        b = copy.deepcopy(b)
        if b.get("type") == "tool_use":
            b.setdefault("id", _next_tool_id())
            b.setdefault("input", {})
        blocks.append(b)
    if not blocks:
        blocks = [text_block("ok")]
    return blocks


def _estimate_tokens(raw: bytes) -> int:
    return max(1, len(raw) // 4)


def message_json(turn: Turn, model: str, input_tokens: int) -> dict[str, Any]:
    """The non-streaming Messages API answer for ``turn``."""
    blocks = _normalised_blocks(turn)
    out_tokens = max(1, sum(len(json.dumps(b)) for b in blocks) // 4)
    return {
        "id": f"msg_fake{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": turn.resolved_stop_reason(),
        "stop_sequence": None,
        "usage": _usage(input_tokens, out_tokens),
    }


def sse_events(turn: Turn, model: str, input_tokens: int) -> list[tuple[str, dict[str, Any]]]:
    """The streaming events for ``turn``, as (event name, data) pairs."""
    msg = message_json(turn, model, input_tokens)
    events: list[tuple[str, dict[str, Any]]] = []
    start = dict(msg, content=[], stop_reason=None, usage=_usage(input_tokens, 1))
    events.append(("message_start", {"type": "message_start", "message": start}))
    for i, b in enumerate(msg["content"]):
        kind = b.get("type")
        if kind == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            text = str(b.get("text", ""))
            for chunk in _chunks(text, 40) or [""]:
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "text_delta", "text": chunk},
                        },
                    )
                )
        elif kind == "tool_use":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {
                            "type": "tool_use",
                            "id": b["id"],
                            "name": b["name"],
                            "input": {},
                        },
                    },
                )
            )
            payload = json.dumps(b.get("input", {}))
            for chunk in _chunks(payload, 64):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": chunk},
                        },
                    )
                )
        elif kind == "thinking":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                    },
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "thinking_delta", "thinking": str(b.get("thinking", ""))},
                    },
                )
            )
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {
                            "type": "signature_delta",
                            "signature": str(b.get("signature", "fake-signature")),
                        },
                    },
                )
            )
        else:
            raise ValueError(f"cannot stream content block of type {kind!r}")
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": msg["usage"]["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _chunks(s: str, n: int) -> list[str]:
    return [s[i : i + n] for i in range(0, len(s), n)]


def encode_sse(events: Iterable[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


# --------------------------------------------------------------------------- server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    # Every method goes through one place.
    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        enc = (self.headers.get("Content-Encoding") or "").lower()
        try:
            if enc == "gzip":
                raw = gzip.decompress(raw)
            elif enc == "deflate":
                raw = zlib.decompress(raw)
        except Exception:
            pass
        return raw

    def _handle(self) -> None:
        api = self.server.api
        raw = self._read_body()
        parts = urlsplit(self.path)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        req = api._record(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
        )
        try:
            if req.is_messages:
                self._answer_messages(req)
            elif req.method == "POST" and parts.path.rstrip("/").endswith("/count_tokens"):
                self._send_json(200, {"input_tokens": _estimate_tokens(raw)})
            elif req.method == "HEAD" or (req.method == "GET" and parts.path in ("", "/")):
                self._send_json(200, {})
            elif req.method == "GET" and parts.path.rstrip("/") == "/v1/models":
                self._send_json(
                    200, {"data": [], "has_more": False, "first_id": None, "last_id": None}
                )
            else:
                self._send_json(
                    404,
                    {
                        "type": "error",
                        "error": {"type": "not_found_error", "message": f"no route {parts.path}"},
                    },
                )
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (e.g. killed mid-stream): nothing to do.
            pass

    def _answer_messages(self, req: Request) -> None:
        api = self.server.api
        turn = api._turn_for(req)
        req.response = turn
        if turn.delay_s > 0:
            time.sleep(turn.delay_s)
        if turn.http_status != 200:
            self._send_json(turn.http_status, turn.error or {"type": "error", "error": {}})
            return
        input_tokens = _estimate_tokens(req.raw_body)
        if req.stream:
            data = encode_sse(sse_events(turn, req.model, input_tokens))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("request-id", f"req_fake{req.index:06d}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
                self.wfile.flush()
        else:
            self._send_json(200, message_json(turn, req.model, input_tokens))

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("request-id", "req_fake")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
            self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    api: FakeAnthropic


class FakeAnthropic:
    """Scripted fake of the Anthropic Messages API on 127.0.0.1 (see module doc).

    Use as a context manager (or call ``start()``/``stop()``). ``base_url`` is
    what ``ANTHROPIC_BASE_URL`` must be set to.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        main: Iterable[Turn] = (),
        subagent: Iterable[Turn] = (),
        default_reply: str = "ok",
        side_reply: str = "ok",
        host: str = "127.0.0.1",
    ) -> None:
        self.responder: Responder | None = responder
        self.default_reply = default_reply
        self.side_reply = side_reply
        self.errors: list[BaseException] = []
        self._host = host
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._requests: list[Request] = []
        self._main: deque[Turn] = deque(main)
        self._subagent: deque[Turn] = deque(subagent)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> FakeAnthropic:
        if self._server is not None:
            return self
        server = _Server((self._host, 0), _Handler)
        server.api = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="fake-anthropic",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeAnthropic is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # -- scripting ---------------------------------------------------------------
    def set_responder(self, responder: Responder | None) -> None:
        with self._lock:
            self.responder = responder

    def script_main(self, *turns: Turn) -> None:
        """Queue turns for main-agent requests (answered in order)."""
        with self._lock:
            self._main.extend(turns)

    def script_subagent(self, *turns: Turn) -> None:
        """Queue turns for subagent requests (any agent id, answered in order)."""
        with self._lock:
            self._subagent.extend(turns)

    def pending(self) -> tuple[int, int]:
        """(main, subagent) scripted turns not yet used."""
        with self._lock:
            return len(self._main), len(self._subagent)

    def _turn_for(self, req: Request) -> Turn:
        responder = self.responder
        if responder is not None:
            try:
                turn = _to_turn(responder(req))
            except BaseException as exc:  # never hang the client on a test bug
                with self._lock:
                    self.errors.append(exc)
                return text_turn(self.default_reply)
            if turn is not None:
                return turn
        if req.is_side_request:
            return text_turn(self.side_reply)
        with self._lock:
            queue = self._subagent if req.is_subagent else self._main
            if queue:
                return queue.popleft()
        return text_turn(self.default_reply)

    # -- log ---------------------------------------------------------------------
    def _record(self, **kw: Any) -> Request:
        with self._cond:
            req = Request(index=len(self._requests), received_at=time.time(), **kw)
            self._requests.append(req)
            self._cond.notify_all()
            return req

    @property
    def requests(self) -> list[Request]:
        """Every request so far (a snapshot copy of the log)."""
        with self._lock:
            return list(self._requests)

    def message_requests(self) -> list[Request]:
        """All ``POST /v1/messages`` requests."""
        return [r for r in self.requests if r.is_messages]

    def main_requests(self) -> list[Request]:
        """Main-agent turns (tools offered, no agent-id header), in order."""
        return [r for r in self.requests if r.is_main]

    def subagent_requests(self, agent_id: str | None = None) -> list[Request]:
        """Subagent turns, optionally of one agent id."""
        return [
            r
            for r in self.requests
            if r.is_messages and r.is_subagent and (agent_id is None or r.agent_id == agent_id)
        ]

    def side_requests(self) -> list[Request]:
        return [r for r in self.requests if r.is_side_request]

    def agent_ids(self) -> list[str]:
        """Distinct subagent ids in order of first appearance."""
        seen: list[str] = []
        for r in self.subagent_requests():
            if r.agent_id and r.agent_id not in seen:
                seen.append(r.agent_id)
        return seen

    def wait_for(
        self, predicate: Callable[[Request], bool], timeout: float = 30.0
    ) -> Request | None:
        """Block until a recorded request satisfies ``predicate``; return it or None."""
        deadline = time.monotonic() + timeout
        checked = 0
        with self._cond:
            while True:
                while checked < len(self._requests):
                    req = self._requests[checked]
                    checked += 1
                    if predicate(req):
                        return req
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(timeout=min(remaining, 0.5))

    def dump(self) -> str:
        """One line per request: handy in assertion messages."""
        return "\n".join(r.summary() for r in self.requests)
