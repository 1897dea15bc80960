"""A real webhook receiver for tests: an HTTP server on a loopback port in its own thread.

It verifies each request with the `standardwebhooks` library (independent of our signing code)
against every secret it was given, and answers with the next status code of its script.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    # secret → whether the library verified the request with it
    verified: dict[str, bool]

    @property
    def envelope(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    # Status codes to answer, in order; 204 once exhausted.
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    # Seconds to wait before answering each of the first requests (a slow or hung receiver).
    delays: list[float] = field(default_factory=list)

    def verify(self, headers: dict[str, str], body: bytes) -> dict[str, bool]:
        results = {}
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                results[secret] = True
            except WebhookVerificationError:
                results[secret] = False
        return results


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver.received.append(Received(headers=headers, body=body, verified=receiver.verify(headers, body)))
            if receiver.delays:
                time.sleep(receiver.delays.pop(0))
            status = receiver.script.pop(0) if receiver.script else 204
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server
