"""The local HTTP server the browser page talks to: GET a fixed table of files, POST
``/results`` once. It listens on 127.0.0.1 on a free port and lives as long as one run."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional

_CONTENT_TYPES = (
    (".html", "text/html"),
    (".js", "text/javascript"),
    (".json", "application/json"),
    (".wasm", "application/wasm"),
    (".zip", "application/zip"),
)


def content_type(path: str) -> str:
    for suffix, kind in _CONTENT_TYPES:
        if path.endswith(suffix):
            return kind
    return "application/octet-stream"


class PageServer:
    """Serves ``files`` (URL path -> bytes); the page's report lands in :attr:`report`."""

    def __init__(self, files: Dict[str, bytes]) -> None:
        self.files = dict(files)
        self.report: Optional[Dict[str, Any]] = None
        self.reported = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                content = outer.files.get(self.path.split("?", 1)[0])
                if content is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type(self.path))
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(content)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, 1 << 30))
                if self.path != "/results":
                    self.send_error(404)
                    return
                try:
                    outer.report = json.loads(raw)
                except (ValueError, RecursionError) as exc:
                    outer.report = {"fatal": f"the page posted invalid JSON: {exc}"}
                self.send_response(204)
                self.end_headers()
                outer.reported.set()

            def log_message(self, format: str, *args: Any) -> None:  # the page is not a web site
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="motivus-page-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "PageServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
