"""The emulator's HTTP/1.1 client codec: round trips and never-crash on arbitrary bytes."""

from __future__ import annotations

import http.client
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modem.emulator.http_codec import (
    HttpError,
    ResponseParser,
    Url,
    encode_request,
    encode_response,
    parse_url,
)

header_names = st.from_regex(r"X-[A-Za-z0-9-]{1,12}", fullmatch=True)
header_values = st.from_regex(r"[ -~]{0,30}", fullmatch=True).map(str.strip)
headers = st.lists(st.tuples(header_names, header_values), max_size=5)


def feed_in_pieces(parser: ResponseParser, data: bytes, cuts: list[int]) -> None:
    last = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        parser.feed(data[last:cut])
        last = cut


@given(st.integers(200, 599), headers, st.binary(max_size=3000), st.booleans(), st.lists(st.integers(0, 4000)))
def test_response_round_trip_in_any_pieces(status: int, hdrs: list[tuple[str, str]], body: bytes, chunked: bool,
                                           cuts: list[int]) -> None:  # fmt: skip
    if status in (204, 304):
        body = b""
    wire = encode_response(status, "Reason", hdrs, body, chunked=chunked)
    parser = ResponseParser()
    feed_in_pieces(parser, wire, cuts)
    assert parser.response is not None
    assert parser.response.status == status
    assert parser.response.body == body
    assert list(parser.response.headers)[: len(hdrs)] == hdrs


@given(st.binary(max_size=2000), st.lists(st.integers(0, 2000)), st.booleans(), st.booleans())
def test_parser_never_crashes_on_arbitrary_bytes(data: bytes, cuts: list[int], head_only: bool, close: bool) -> None:
    parser = ResponseParser(head_only=head_only)
    try:
        feed_in_pieces(parser, data, cuts)
        if close:
            parser.close()
    except HttpError:
        return
    if parser.response is not None:
        assert 100 <= parser.response.status <= 999


@given(st.binary(max_size=500))
def test_parser_never_crashes_after_a_valid_head(data: bytes) -> None:
    parser = ResponseParser()
    try:
        parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + data)
        parser.close()
    except HttpError:
        pass


def test_body_read_to_eof_and_interim_response() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nServer: x\r\n\r\nab")
    parser.feed(b"cd")
    assert not parser.done
    parser.close()
    assert parser.response is not None and parser.response.body == b"abcd"
    assert parser.response.head == b"HTTP/1.0 200 OK\r\nServer: x\r\n"


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n",
        b"SSH-2.0\r\n\r\n",
    ],
)
def test_bad_responses_raise_http_error(wire: bytes) -> None:
    with pytest.raises(HttpError):
        ResponseParser().feed(wire)


def test_close_mid_body_is_an_error() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    with pytest.raises(HttpError):
        parser.close()


@given(st.sampled_from(["GET", "POST", "HEAD"]), st.from_regex(r"/[a-z0-9/]{0,20}(\?[a-z=&0-9]{1,10})?", fullmatch=True),
       headers, st.binary(max_size=300))  # fmt: skip
def test_request_is_read_by_an_outside_parser(method: str, target: str, hdrs: list[tuple[str, str]], body: bytes) -> None:
    """http.client's header parser (an independent implementation) reads what we send."""
    if method != "POST":
        body = b""
    wire = encode_request(method, Url("http", "127.0.0.1", 8080, target), hdrs, body)
    head, _, rest = wire.partition(b"\r\n\r\n")
    request_line, _, header_block = head.partition(b"\r\n")
    assert request_line == f"{method} {target} HTTP/1.1".encode()
    parsed = http.client.parse_headers(io.BytesIO(header_block + b"\r\n\r\n"))
    assert parsed["Host"] == "127.0.0.1:8080"
    assert parsed["Connection"] == "close"
    for name, value in hdrs:
        assert value in parsed.get_all(name, [])
    if method == "POST":
        assert int(parsed["Content-Length"]) == len(body)
    assert rest == body


def test_parse_url() -> None:
    assert parse_url("http://127.0.0.1:8080/a/b?c=1") == Url("http", "127.0.0.1", 8080, "/a/b?c=1")
    assert parse_url("127.0.0.1/x") == Url("http", "127.0.0.1", 80, "/x")
    assert parse_url("https://h") == Url("https", "h", 443, "/")
    assert parse_url("http://h:80/").host_header == "h"
    for bad in ("ftp://h/", "http://", "http://h:99999/", "http://a b/"):
        with pytest.raises(HttpError):
            parse_url(bad)


@given(st.text(max_size=200))
def test_parse_url_never_crashes(text: str) -> None:
    try:
        url = parse_url(text)
    except HttpError:
        return
    assert url.scheme in ("http", "https") and 0 <= url.port < 65536 and url.target.startswith("/")
