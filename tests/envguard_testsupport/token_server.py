"""A private conda channel on 127.0.0.1: served only under `/t/<token>/`, as hosted channels do.

Stdlib only. Hosted private channels put an access token in the URL path
(`https://host/t/<token>/<channel>`) and often take `user:password@` too; conda keeps both in
the URLs it requests, and writes the token into places like `conda-meta/history`. This server
answers only such URLs, so a test proves conda really went through the token (and the
credentials, when it sent them) and can check where they leaked afterwards.
"""

from __future__ import annotations

import base64
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["Request", "TokenChannelServer"]

_CONTENT_TYPES = {".json": "application/json", ".bz2": "application/x-tar"}


@dataclass(frozen=True)
class Request:
    """One request the server answered."""

    status: int
    path: str
    with_credentials: bool


@dataclass
class TokenChannelServer:
    """Serve `directory` as `http://[user:password@]127.0.0.1:PORT/t/<token>/<name>/...`.

    Requests without the token get 403; requests that send an Authorization header with other
    credentials get 401; a request without credentials is accepted (the token is the secret).
    Set `require_auth` to also refuse requests that send no credentials.
    """

    directory: Path
    token: str = "tk-123456"
    user: str = "user"
    password: str = "secret"
    name: str = "chan"
    require_auth: bool = False
    requests: list[Request] = field(default_factory=list)
    _httpd: http.server.ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """The channel URL without credentials, token included."""
        return f"http://127.0.0.1:{self.port}/t/{self.token}/{self.name}"

    @property
    def url(self) -> str:
        """The channel URL with `user:password@` and the token, as a user would paste it."""
        return (
            f"http://{self.user}:{self.password}@127.0.0.1:{self.port}/t/{self.token}/{self.name}"
        )

    @property
    def served(self) -> list[str]:
        """Paths (below the channel) answered with 200, e.g. `noarch/alpha-1.0-0.tar.bz2`."""
        prefix = f"/t/{self.token}/{self.name}/"
        return [r.path[len(prefix) :] for r in self.requests if r.status == 200]

    def start(self) -> TokenChannelServer:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(send_body=True)

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def _answer(self, send_body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                authorization = self.headers.get("Authorization")
                status, body, content_type = server._resolve(path, authorization)
                server.requests.append(Request(status, path, authorization is not None))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="test channel"')
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # pytest would show every request line as stray stderr output

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="token-channel", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._httpd = self._thread = None

    def __enter__(self) -> TokenChannelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _resolve(self, path: str, authorization: str | None) -> tuple[int, bytes, str]:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if authorization is not None and authorization != expected:
            return 401, b"bad credentials\n", "text/plain"
        if authorization is None and self.require_auth:
            return 401, b"credentials required\n", "text/plain"
        prefix = f"/t/{self.token}/{self.name}/"
        if not path.startswith(prefix):
            return 403, b"token required\n", "text/plain"
        root = self.directory.resolve()
        target = (root / path[len(prefix) :]).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return 404, b"not found\n", "text/plain"
        content_type = _CONTENT_TYPES.get(target.suffix, "application/octet-stream")
        return 200, target.read_bytes(), content_type
