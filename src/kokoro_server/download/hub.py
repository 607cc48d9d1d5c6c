"""A small client for hub file URLs (``{endpoint}/{repo}/resolve/{revision}/{path}``).

``fetch`` downloads one file the safe way:

- metadata first (``HEAD``): size and SHA-256 from ``X-Linked-Size`` / ``X-Linked-Etag`` for LFS
  files (the hub answers those with a redirect to its CDN, which is not followed for ``HEAD``), or
  ``Content-Length`` and the git blob id in ``ETag`` for regular files;
- a file already in place that verifies is left alone: nothing is transferred;
- bytes stream into ``<name>.part`` beside the target; a broken connection, a timeout or a 5xx is
  retried with backoff and continues from the bytes already on disk (HTTP ``Range``), also across
  runs; redirects (the CDN) are followed;
- the finished ``.part`` is checked (size, SHA-256 or git blob id, then the caller's own check),
  fsynced and moved over the target with ``os.replace``: never a partial file under the final name.
  A file that fails its check is deleted, not installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import httpx
from tqdm import tqdm

from kokoro_server.builds.downloads import HubFile
from kokoro_server.errors import DownloadError, HubUnreachableError, KokoroError
from kokoro_server.files import fsync_folder, keep_mode

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Expected:
    """What a correct copy of a file looks like (any part may be unknown)."""

    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None  # git blob id: what the hub's ETag is for regular (non-LFS) files

    @property
    def checkable(self) -> bool:
        return self.sha256 is not None or self.git_sha1 is not None


@dataclass(frozen=True)
class RemoteInfo:
    url: str
    size: int | None
    sha256: str | None
    git_sha1: str | None
    commit: str | None


@dataclass(frozen=True)
class FetchResult:
    target: Path
    downloaded: bool  # False: the file was already there and valid
    transferred: int  # bytes received in this run
    resumed_from: int  # bytes of an earlier .part that were kept


class _Retry(Exception):
    """A transient failure: try again (and resume)."""


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def file_digests(path: Path) -> tuple[int, str, str]:
    """Size, SHA-256 and git blob id of a file, in one pass."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    git = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            sha256.update(block)
            git.update(block)
    return size, sha256.hexdigest(), git.hexdigest()


def mismatch(path: Path, expected: Expected) -> str | None:
    """Why ``path`` is not the expected file, or None when it is (as far as can be checked)."""
    size = path.stat().st_size
    if expected.size is not None and size != expected.size:
        return f"size {size} bytes, expected {expected.size}"
    if not expected.checkable:
        return None
    _, sha256, git_sha1 = file_digests(path)
    if expected.sha256 is not None and sha256 != expected.sha256:
        return f"SHA-256 {sha256}, expected {expected.sha256}"
    if expected.sha256 is None and expected.git_sha1 is not None and git_sha1 != expected.git_sha1:
        return f"git blob id {git_sha1}, expected {expected.git_sha1}"
    return None


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower() or None


class HubClient:
    """Fetches files of hub repositories from ``endpoint`` (the hub or a mirror with its layout)."""

    def __init__(self, endpoint: str, *, timeout: float = 30.0, connect_timeout: float = 10.0,
                 retries: int = 5, backoff: float = 0.5, progress: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.progress = progress
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout),
                                    headers={"User-Agent": "kokoro-server"}, transport=transport)

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def url(self, file: HubFile) -> str:
        return (f"{self.endpoint}/{file.repo}/resolve/{quote(file.revision, safe='')}/"
                f"{quote(file.path, safe='/')}")

    # -- metadata --------------------------------------------------------------------------
    def info(self, file: HubFile) -> RemoteInfo:
        """``HEAD`` the file; follows only same-host redirects (renamed repos), not the CDN."""
        url = self.url(file)
        for attempt in range(self.retries + 1):
            try:
                response = self._head(url)
                if response.status_code in RETRY_STATUS:
                    raise _Retry(f"HTTP {response.status_code}")
                break
            except (_Retry, httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
                if attempt == self.retries:
                    raise DownloadError(f"the hub kept failing for {file.path} ({_describe(exc)}) at {url}; "
                                        "try again later") from None
                self._sleep(attempt)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise self._unreachable(url, exc) from None
        if response.status_code >= 400:
            raise _http_error(file, url, response)
        headers = response.headers
        hub_style = "x-repo-commit" in headers or "x-linked-etag" in headers
        linked = _etag(headers.get("x-linked-etag"))
        etag = linked or (_etag(headers.get("etag")) if hub_style else None)
        size_text = headers.get("x-linked-size") or (
            headers.get("content-length") if response.status_code < 300 else None)
        size = int(size_text) if size_text and size_text.isdigit() else None
        sha256 = etag if etag and _HEX64.match(etag) else None
        git_sha1 = etag if etag and not linked and _HEX40.match(etag) else None
        return RemoteInfo(url, size, sha256, git_sha1, headers.get("x-repo-commit"))

    def _head(self, url: str) -> httpx.Response:
        origin = urlsplit(url)[:2]
        for _ in range(10):
            response = self._client.head(url, headers={"Accept-Encoding": "identity"}, follow_redirects=False)
            location = response.headers.get("location")
            if not (300 <= response.status_code < 400 and location):
                return response
            target = urljoin(url, location)
            if urlsplit(target)[:2] != origin:  # the CDN: its headers are the ones we want
                return response
            url = target
        raise DownloadError(f"too many redirects for {url}")

    # -- download --------------------------------------------------------------------------
    def fetch(self, file: HubFile, target: Path, *, check: Callable[[Path], None] | None = None) -> FetchResult:
        """Make ``target`` a verified copy of ``file``; transfer only what is missing."""
        known = Expected(size=file.size, sha256=file.sha256)
        if known.checkable and target.is_file() and mismatch(target, known) is None and _passes(check, target):
            return FetchResult(target, False, 0, 0)
        info = self.info(file)
        expected = _merge(known, info, file)
        if target.is_file() and mismatch(target, expected) is None and _passes(check, target):
            return FetchResult(target, False, 0, 0)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = part_path(target)
        transferred, resumed_from = self._transfer(file, info.url, part, expected)
        problem = mismatch(part, expected)
        if problem is not None and resumed_from:
            # the kept bytes may come from an older copy of the file: once more, from scratch
            part.unlink(missing_ok=True)
            more, _ = self._transfer(file, info.url, part, expected)
            transferred += more
            resumed_from = 0
            problem = mismatch(part, expected)
        if problem is not None:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{file.path} from {info.url} is corrupt ({problem}); it was discarded "
                                "and nothing was installed. Run the command again; if this persists the "
                                "hub or mirror serves a bad file")
        if check is not None:
            try:
                check(part)
            except KokoroError:
                part.unlink(missing_ok=True)
                raise
        _install(part, target)
        return FetchResult(target, True, transferred, resumed_from)

    def _transfer(self, file: HubFile, url: str, part: Path, expected: Expected) -> tuple[int, int]:
        """Stream ``url`` into ``part``, resuming what is there. Returns (bytes received, bytes kept)."""
        kept = part.stat().st_size if part.is_file() else 0
        if expected.size is not None and kept > expected.size:
            part.unlink()
            kept = 0
        received = 0
        failures = 0
        bar = tqdm(total=expected.size, initial=kept, unit="B", unit_scale=True, unit_divisor=1024,
                   desc=file.path.rsplit("/", 1)[-1], file=sys.stderr, leave=False,
                   disable=None if self.progress else True)  # None: only on a terminal
        try:
            while True:
                offset = part.stat().st_size if part.is_file() else 0
                if expected.size is not None and offset == expected.size:
                    return received, kept
                try:
                    got, whole = self._get(file, url, part, offset, bar)
                    return received + got, 0 if whole else kept
                except _Restart:
                    part.unlink(missing_ok=True)
                    kept = 0
                    bar.reset(total=expected.size)
                except (_Retry, httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
                        httpx.RemoteProtocolError) as exc:
                    failures += 1
                    if failures > self.retries:
                        raise DownloadError(
                            f"downloading {file.path} kept failing ({_describe(exc)}); the "
                            f"{part.stat().st_size if part.is_file() else 0} bytes received are kept in "
                            f"{part} and the next run continues from there") from None
                    self._sleep(failures - 1)
                except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                    raise self._unreachable(url, exc, part if part.is_file() else None) from None
        finally:
            bar.close()

    def _get(self, file: HubFile, url: str, part: Path, offset: int, bar: tqdm) -> tuple[int, bool]:
        """One GET from ``offset``: (bytes received, whether the server sent the whole file instead)."""
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        received = 0
        whole = False
        with self._client.stream("GET", url, headers=headers, follow_redirects=True) as response:
            if response.status_code == 416 and offset:
                raise _Restart()  # the .part does not fit the file (longer, or the file changed)
            if response.status_code in RETRY_STATUS:
                raise _Retry(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise _http_error(file, url, response)
            if offset and response.status_code == 206:
                start = _range_start(response.headers.get("content-range"))
                if start != offset:
                    raise _Restart()
                mode = "ab"
            else:  # 200: the whole file (the server ignored Range)
                mode = "wb"
                if offset:
                    bar.reset()
                    whole = True
            with part.open(mode) as out:
                try:
                    for block in response.iter_bytes():
                        out.write(block)
                        received += len(block)
                        bar.update(len(block))
                finally:
                    out.flush()
                    os.fsync(out.fileno())
        return received, whole

    def _sleep(self, attempt: int) -> None:
        time.sleep(min(self.backoff * (2 ** attempt), 8.0))

    def _unreachable(self, url: str, exc: Exception, part: Path | None = None) -> HubUnreachableError:
        kept = f"; the bytes received so far are kept in {part} and the next run continues" if part else ""
        return HubUnreachableError(
            f"cannot reach the model hub at {self.endpoint} ({_describe(exc)}) while fetching {url}{kept}. "
            "Check the network connection, or point --hub-url / KOKORO_HUB_URL / HF_ENDPOINT at a mirror")


class _Restart(Exception):
    """The kept bytes cannot be continued: start the file over."""


def _passes(check: Callable[[Path], None] | None, path: Path) -> bool:
    if check is None:
        return True
    try:
        check(path)
    except KokoroError:
        return False
    return True


def _merge(known: Expected, info: RemoteInfo, file: HubFile) -> Expected:
    """Known facts win; the hub fills in the rest. A hub that contradicts a known digest is refused."""
    if known.sha256 and info.sha256 and known.sha256 != info.sha256:
        raise DownloadError(
            f"{info.url} announces SHA-256 {info.sha256} but {file.path} at revision {file.revision} is "
            f"known to be {known.sha256}: the hub or mirror serves a different file; nothing was downloaded")
    if known.size is not None and info.size is not None and known.size != info.size:
        raise DownloadError(f"{info.url} announces {info.size} bytes but {file.path} at revision "
                            f"{file.revision} is known to be {known.size} bytes; nothing was downloaded")
    return Expected(size=known.size if known.size is not None else info.size,
                    sha256=known.sha256 or info.sha256,
                    git_sha1=None if (known.sha256 or info.sha256) else info.git_sha1)


def _install(part: Path, target: Path) -> None:
    with part.open("rb") as handle:
        os.fsync(handle.fileno())
    keep_mode(part, target)  # the .part has the umask's mode, as open() made it; a replaced file keeps its own
    os.replace(part, target)
    fsync_folder(target.parent)


def _range_start(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", value or "")
    return int(match.group(1)) if match else None


def _http_error(file: HubFile, url: str, response: httpx.Response) -> DownloadError:
    detail = response.headers.get("x-error-message") or response.headers.get("x-error-code") or ""
    detail = f": {detail}" if detail else ""
    if response.status_code == 404:
        return DownloadError(f"{file.path} is not on the hub (HTTP 404{detail}) at {url}; check the "
                             f"name, the revision ({file.revision}) and the hub URL")
    if response.status_code in (401, 403):
        return DownloadError(f"the hub refused access to {file.path} (HTTP {response.status_code}{detail}) "
                             f"at {url}")
    return DownloadError(f"the hub answered HTTP {response.status_code}{detail} for {file.path} at {url}")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    reason = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        reason = "connection timed out"
    elif isinstance(exc, httpx.ConnectError):
        lowered = text.lower()
        if "refused" in lowered:
            reason = "connection refused"
        elif "name" in lowered or "resolution" in lowered or "nodename" in lowered:
            reason = "host name not found"
        else:
            reason = "cannot connect"
    elif isinstance(exc, httpx.ReadTimeout):
        reason = "read timed out"
    elif isinstance(exc, httpx.RemoteProtocolError):
        reason = "connection broken"
    elif isinstance(exc, _Retry):
        return text
    return f"{reason}: {text}" if text and text not in reason else reason
