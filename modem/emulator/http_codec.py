"""A small sans-IO HTTP/1.1 client codec for the virtual modem's HTTP application (AT+HTTP*).

The modem is the client: `encode_request` builds what it sends, `ResponseParser` takes the server's
bytes as they come and says when the response is complete (Content-Length, chunked, or the server
closing). RFC 9112 is the reference; only what a SIM800's HTTP stack needs is here: no pipelining,
no keep-alive (every request says `Connection: close`), no trailers beyond skipping them.
`encode_response` is the server's side, for tests and round trips.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 16384  # a status line plus headers longer than this is not a response we accept
MAX_BODY = 319488  # SIM800 manual V1.09 §15.2.3: the largest HTTP data it holds (AT+HTTPDATA size)

_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})(?: ([^\r\n]*))?")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class HttpError(ValueError):
    """The peer's bytes are not an HTTP/1.x response we can read (bad input, never our bug)."""


@dataclass(frozen=True)
class Url:
    scheme: str  # "http" | "https"
    host: str
    port: int
    target: str  # path and query, at least "/"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def parse_url(url: str) -> Url:
    """`http://host[:port]/path?query` (the scheme may be left out, as the SIM800 allows)."""
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise HttpError(f"bad URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"bad URL {url!r}")
    if any(ch in text for ch in "\r\n \t"):
        raise HttpError(f"bad URL {url!r}: whitespace")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Url(scheme, parts.hostname, port or (443 if scheme == "https" else 80), target)


def encode_request(
    method: str,
    url: Url,
    headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> bytes:
    """One HTTP/1.1 request; Content-Length is added when there is a body or the method is POST."""
    if method not in ("GET", "POST", "HEAD"):
        raise ValueError(f"method {method!r}")  # our bug, not the peer's
    lines = [f"{method} {url.target} HTTP/1.1", f"Host: {url.host_header}"]
    for name, value in headers:
        if not _TOKEN.fullmatch(name.encode("latin-1", "replace")) or any(ch in value for ch in "\r\n"):
            raise ValueError(f"bad header {name!r}")
        lines.append(f"{name}: {value}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body


def encode_response(
    status: int, reason: str, headers: list[tuple[str, str]], body: bytes, *, chunked: bool = False
) -> bytes:
    """The server's side: a response with Content-Length, or chunked in pieces of up to 7 bytes."""
    head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        out = b""
        for i in range(0, len(body), 7):
            piece = body[i : i + 7]
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        out += b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        out = body
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + out


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    head: bytes  # status line and header lines as received (what AT+HTTPHEAD shows)
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class ResponseParser:
    """Feed the server's bytes; `done` turns true once a whole response is in.

    Raises HttpError on bytes that are not a response (the caller reports a network error).
    `head_only`: the request was HEAD, so no body follows whatever the headers say.
    """

    def __init__(self, *, head_only: bool = False) -> None:
        self.head_only = head_only
        self._buf = bytearray()
        self._status = 0
        self._reason = ""
        self._headers: tuple[tuple[str, str], ...] = ()
        self._head = b""
        self._body = bytearray()
        self._mode = "head"  # head | length | chunk-size | chunk-data | chunk-crlf | trailer | eof | done
        self._left = 0
        self.response: Response | None = None

    @property
    def done(self) -> bool:
        return self.response is not None

    def feed(self, data: bytes) -> None:
        if self.done:
            return  # Connection: close; anything after the response is ignored
        self._buf += data
        self._run()

    def close(self) -> None:
        """The server closed the connection: that ends a body read to EOF; else it is an error."""
        if self.done:
            return
        if self._mode == "eof":
            self._finish()
            return
        raise HttpError(f"connection closed in the middle of the response ({self._mode})")

    # ------------------------------------------------------------------ internals
    def _run(self) -> None:
        while not self.done:
            before = (self._mode, len(self._buf))
            if self._mode == "head":
                self._read_head()
            elif self._mode == "length":
                take = self._buf[: self._left]
                del self._buf[: len(take)]
                self._add_body(take)
                self._left -= len(take)
                if self._left == 0:
                    self._finish()
            elif self._mode == "eof":
                self._add_body(self._buf)
                self._buf.clear()
            elif self._mode == "chunk-size":
                self._read_chunk_size()
            elif self._mode == "chunk-data":
                take = self._buf[: self._left]
                del self._buf[: len(take)]
                self._add_body(take)
                self._left -= len(take)
                if self._left == 0:
                    self._mode = "chunk-crlf"
            elif self._mode == "chunk-crlf":
                if len(self._buf) < 2:
                    return
                if self._buf[:2] != b"\r\n":
                    raise HttpError("chunk not followed by CRLF")
                del self._buf[:2]
                self._mode = "chunk-size"
            elif self._mode == "trailer":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    if len(self._buf) > MAX_HEAD:
                        raise HttpError("trailer too long")
                    return
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                if not line:
                    self._finish()
            if (self._mode, len(self._buf)) == before and not self.done:
                return  # need more bytes

    def _add_body(self, data: bytes | bytearray) -> None:
        if len(self._body) + len(data) > MAX_BODY:
            raise HttpError(f"body over {MAX_BODY} bytes")
        self._body += data

    def _read_head(self) -> None:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD:
                raise HttpError("response head too long")
            return
        head = bytes(self._buf[:end])
        del self._buf[: end + 4]
        lines = head.split(b"\r\n")
        mo = _STATUS.fullmatch(lines[0])
        if mo is None:
            raise HttpError(f"bad status line {lines[0][:80]!r}")
        status = int(mo.group(1))
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not _TOKEN.fullmatch(name):
                raise HttpError(f"bad header line {line[:80]!r}")
            headers.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))
        if 100 <= status < 200:
            return  # an interim response (100 Continue): the real one follows
        self._status, self._reason = status, (mo.group(2) or b"").decode("latin-1")
        self._headers, self._head = tuple(headers), head + b"\r\n"
        te = self._get("transfer-encoding")
        length = self._get("content-length")
        if self.head_only or status in (204, 304):
            self._finish()
        elif te is not None:
            if te.lower() != "chunked":
                raise HttpError(f"transfer coding {te!r} not supported")
            self._mode = "chunk-size"
        elif length is not None:
            if not length.isascii() or not length.isdigit():
                raise HttpError(f"bad Content-Length {length!r}")
            self._left = int(length)
            if self._left > MAX_BODY:
                raise HttpError(f"body over {MAX_BODY} bytes")
            self._mode = "length"
            if self._left == 0:
                self._finish()
        else:
            self._mode = "eof"

    def _read_chunk_size(self) -> None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > 1024:
                raise HttpError("chunk size line too long")
            return
        line = bytes(self._buf[:end]).split(b";", 1)[0].strip()
        del self._buf[: end + 2]
        if not line or not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", line):
            raise HttpError(f"bad chunk size {line[:20]!r}")
        self._left = int(line, 16)
        if self._left > MAX_BODY:
            raise HttpError(f"body over {MAX_BODY} bytes")
        self._mode = "chunk-data" if self._left else "trailer"

    def _get(self, name: str) -> str | None:
        for k, v in self._headers:
            if k.lower() == name:
                return v
        return None

    def _finish(self) -> None:
        self._mode = "done"
        self.response = Response(self._status, self._reason, self._headers, self._head, bytes(self._body))
