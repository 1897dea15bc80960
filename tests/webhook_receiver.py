"""A webhook receiver for the live tests, run as its own process on loopback.

    python tests/webhook_receiver.py PORT LOG CONTROL

Reads CONTROL (a JSON file, re-read on every request: {"status": 200, "delay": 0}) when a request
arrives, appends the request and the status it will answer to LOG as one JSON line
({path, headers, body, at, status}), then answers as that control said. Reading the control before
logging means a test that sees an entry and then changes CONTROL cannot change that entry's answer.
It verifies nothing itself: the tests verify what it logged.
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    port, log_path, control_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            try:
                with open(control_path, encoding="utf-8") as control_file:
                    control = json.load(control_file)
            except (OSError, ValueError):
                control = {}
            entry = {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8"),
                "at": time.time(),
                "status": int(control.get("status", 200)),
            }
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry, ensure_ascii=False) + "\n")
                log.flush()
                os.fsync(log.fileno())
            time.sleep(float(control.get("delay", 0)))
            answer = json.dumps({"ok": True}).encode() * int(control.get("repeat", 1))
            self.send_response(entry["status"])
            if control.get("location"):
                self.send_header("location", control["location"])
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
