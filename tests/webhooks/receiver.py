"""A real webhook receiver for tests: an HTTP server on a loopback port, in a thread, that
verifies every request with the ``standardwebhooks`` library (not with Jifen's code) against the
secrets the test gives it, and answers as the test scripts it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any]
    verified_with: tuple[str, ...]  # which of the receiver's secrets verify it
    answered: int


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hold: threading.Event | None = None  # answer only once this is set (a slow receiver)


Script = Callable[[int, dict[str, str]], Reply]  # (request number from 1, headers) -> reply


class Receiver:
    def __init__(self) -> None:
        self.secrets: list[str] = []
        self.received: list[Received] = []
        self.script: Script = lambda n, h: Reply()
        self.arrived = threading.Event()  # set on every request
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = receiver.on_request(headers, body)
                if reply.hold is not None:
                    reply.hold.wait(30)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def on_request(self, headers: dict[str, str], body: bytes) -> Reply:
        verified = tuple(s for s in self.secrets if _verifies(s, headers, body))
        with self._lock:
            number = len(self.received) + 1
            reply = self.script(number, headers)
            self.received.append(
                Received(
                    headers.get("webhook-id", ""),
                    headers,
                    body,
                    json.loads(body) if body else {},
                    verified,
                    reply.status,
                )
            )
        self.arrived.set()
        return reply

    def delivered(self) -> list[Received]:
        """Requests answered 2xx and signed with a secret the receiver knows."""
        return [r for r in self.received if 200 <= r.answered < 300 and r.verified_with]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    # Many deliveries connect at once (the default backlog of 5 drops their SYNs for a second).
    request_queue_size = 128


def _verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True
