"""The local hosts of the data tests, run in a process of its own (so it does not share the GIL).

Usage: ``python hosts_server.py TREE``; prints the port, then serves TREE on 127.0.0.1 like
GitHub raw, the Hugging Face hub (resolve -> redirect to a CDN on another host name, with
``X-Repo-Commit``), COCO and Google Drive. Control paths, not logged: ``/__log`` (the requests as
JSON ``[path, Authorization]`` pairs), ``/__reset``, ``/__fail?path=P&n=N`` (answer P with 503
N times first).
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

FAKE_COMMIT = "c0ffee" + "0" * 34  # what the fake hub says "main" resolves to


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real hosts allow
    disable_nagle_algorithm = True  # else each keep-alive response stalls 40 ms on delayed ACKs
    log: list[tuple[str, str | None]] = []
    failures: dict[str, int] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        if path.startswith("/__"):
            self._control(path[3:], parse_qs(parts.query))
            return
        with self.lock:
            self.log.append((path, self.headers.get("Authorization")))
            failing = self.failures.get(path, 0) > 0
            if failing:
                self.failures[path] -= 1
        if failing:
            self.send_error(503)
            return
        hub = re.fullmatch(r"/hf/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if hub:
            repo, revision, rest = hub.groups()
            commit = FAKE_COMMIT if revision == "main" else revision
            port = self.server.server_address[1]
            self._answer(302, b"", {"Location": f"http://localhost:{port}/cdn/{repo}/{commit}/{quote(rest)}",
                                    "X-Repo-Commit": commit})
            return
        super().do_GET()

    def _control(self, command: str, query: dict[str, list[str]]) -> None:
        with self.lock:
            if command == "log":
                body = json.dumps(self.log).encode()
            elif command == "reset":
                self.log.clear()
                self.failures.clear()
                body = b"ok"
            else:
                self.failures[query["path"][0]] = int(query["n"][0])
                body = b"ok"
        self._answer(200, body, {"Content-Type": "application/json"})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def guess_type(self, path: str) -> str:  # type: ignore[override]
        return "text/html" if "/gdrive_html/" in str(path) else super().guess_type(path)

    def log_message(self, *args: object) -> None:
        pass


def main(tree: str) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Handler(*a, directory=tree))
    httpd.daemon_threads = True
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
