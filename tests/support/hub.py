"""A stand-in for the Hugging Face hub on 127.0.0.1 that serves ../shared/assets in the hub's layout.

``/{repo}/resolve/{revision}/{path}`` like the hub:

- LFS files (``.pt``, ``.pth``, ``.onnx``): ``HEAD`` and ``GET`` answer ``302`` to a "CDN" on
  another host name (``localhost`` instead of ``127.0.0.1``), with ``X-Linked-Size`` and
  ``X-Linked-Etag`` (the SHA-256) and ``X-Repo-Commit``; the CDN serves the bytes, with ranges.
- regular files (``config.json``): ``200`` with the git blob id as ``ETag``.
- faults per repository path: ``404``, ``drop`` (every transfer stops halfway through what was
  asked), ``drop_once`` (only the first one does), ``corrupt`` (one byte flipped in what is sent,
  while the headers announce the real digest), ``lie`` (headers announce the digest of a
  corrupted copy, and serve that copy).

Every request is logged (method, path, ``Range``, status, body bytes sent), so tests can check
what crossed the wire.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kokoro_server.builds.v0_19.downloads import REPO as KOKORO_REPO, REVISION as V0_19_REVISION

LFS_SUFFIXES = (".pt", ".pth", ".onnx")
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # what the stand-in reports as X-Repo-Commit


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    range: str | None
    status: int
    sent: int


def assets_route(assets: Path):
    """(repo, revision, path) -> the asset file that plays that hub file, or None."""

    def route(repo: str, revision: str, path: str) -> Path | None:
        if repo != KOKORO_REPO:
            return None
        version = "v0_19" if revision == V0_19_REVISION else "v1_0"
        if path == "config.json":
            return assets / "builds" / version / "config.json"
        if path == "kokoro-v1_0.pth" and version == "v1_0":
            return assets / "models" / "v1_0" / "kokoro-v1_0-dequant-fp16.pth"
        match = re.fullmatch(r"voices/([A-Za-z0-9_.-]+\.pt)", path)
        if match:
            return assets / "voices" / version / match.group(1)
        return None

    return route


class FakeHub:
    def __init__(self, route) -> None:
        self.route = route
        self.faults: dict[str, str] = {}
        self.log: list[LoggedRequest] = []
        self._digests: dict[tuple[Path, str], tuple[str, str]] = {}
        self._dropped: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.cdn = f"http://localhost:{self.port}/cdn"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests(self, method: str | None = None, contains: str = "") -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method) and contains in r.path]

    def clear(self) -> None:
        with self._lock:
            self.log.clear()
            self._dropped.clear()

    # -- content ---------------------------------------------------------------------------
    def body(self, file: Path, fault: str | None) -> bytes:
        data = file.read_bytes()
        if fault in ("corrupt", "lie"):
            flipped = bytearray(data)
            flipped[len(flipped) // 2] ^= 0xFF
            data = bytes(flipped)
        return data

    def digests(self, file: Path, fault: str | None) -> tuple[str, str]:
        """(sha256, git blob id) that the headers announce."""
        key = (file, "lie" if fault == "lie" else "")
        with self._lock:
            if key not in self._digests:
                data = self.body(file, "lie" if fault == "lie" else None)
                git = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
                self._digests[key] = (hashlib.sha256(data).hexdigest(), git)
            return self._digests[key]

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def should_drop(self, path: str, fault: str | None) -> bool:
        if fault == "drop":
            return True
        if fault == "drop_once":
            with self._lock:
                if path not in self._dropped:
                    self._dropped.add(path)
                    return True
        return False


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, *, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            if path.startswith("/cdn/"):
                return self._cdn(path[len("/cdn/"):], head=head)
            match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            file = hub.route(match.group(1), match.group(2), match.group(3)) if match else None
            repo_path = match.group(3) if match else path
            fault = hub.faults.get(repo_path)
            if file is None or not file.is_file() or fault == "404":
                return self._reply(404, b"Entry not found", {"X-Error-Code": "EntryNotFound",
                                                             "X-Error-Message": "Entry not found"}, head)
            sha256, git = hub.digests(file, fault)
            headers = {"X-Repo-Commit": COMMIT}
            if file.suffix in LFS_SUFFIXES:
                headers.update({"X-Linked-Size": str(file.stat().st_size), "X-Linked-Etag": f'"{sha256}"',
                                "ETag": f'"{sha256}"',
                                "Location": f"{hub.cdn}/{match.group(2)}/{repo_path}?repo={match.group(1)}"})
                return self._reply(302, b"", headers, head)
            headers["ETag"] = f'"{git}"'
            self._content(hub.body(file, fault), headers, head, repo_path, fault)

        def _cdn(self, rest: str, *, head: bool) -> None:
            revision, _, repo_path = rest.partition("/")
            repo = self.path.split("?repo=", 1)[-1] if "?repo=" in self.path else ""
            file = hub.route(unquote(repo), revision, repo_path)
            if file is None:
                return self._reply(404, b"", {}, head)
            fault = hub.faults.get(repo_path)
            sha256, _ = hub.digests(file, fault)
            self._content(hub.body(file, fault), {"ETag": f'"{sha256}"'}, head, repo_path, fault)

        def _content(self, data: bytes, headers: dict[str, str], head: bool, repo_path: str,
                     fault: str | None) -> None:
            status, start = 200, 0
            asked = self.headers.get("Range")
            if asked:
                match = re.fullmatch(r"bytes=(\d+)-", asked.strip())
                start = int(match.group(1)) if match else 0
                if start >= len(data):
                    return self._reply(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            headers["Accept-Ranges"] = "bytes"
            body = data[start:]
            drop = not head and hub.should_drop(repo_path, fault)
            self._reply(status, body, headers, head, cut=len(body) // 2 if drop else None)

        def _reply(self, status: int, body: bytes, headers: dict[str, str], head: bool,
                   cut: int | None = None) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if cut is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            sent = 0
            if not head:
                payload = body if cut is None else body[:cut]
                self.wfile.write(payload)
                self.wfile.flush()
                sent = len(payload)
            if cut is not None:
                self.close_connection = True
            hub.record(LoggedRequest(self.command, self.path, self.headers.get("Range"), status, sent))

    return Handler
