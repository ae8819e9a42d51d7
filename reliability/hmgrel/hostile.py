"""Hostile requests sent as raw bytes (so nothing in a client library tidies them up), with what each must get:
a clean 4xx in the API's JSON error shape (or the connection closed for bytes that are not HTTP at all), never
a 5xx, never an echo of the hostile value, and a server that keeps serving afterwards."""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field

NOT_HTTP = "closed"  # the server may simply close a connection that does not speak HTTP/1.1


@dataclass
class Case:
    name: str
    raw: bytes
    expect: set  # acceptable statuses (ints) and/or NOT_HTTP
    code: str | None = None  # the `error` code when the answer is the API's JSON
    forbid: list = field(default_factory=list)  # substrings that must not appear in the answer (echoes, files)
    protocol: bool = False  # malformed HTTP: the HTTP library answers before the API does (no JSON body needed)
    max_seconds: float = 2.0  # a hostile request must not hold the server (or the client) for long
    edge: str = ""  # through the proxy: "protocol" when nginx itself answers (its own limits; any 4xx),
    #                 "skip" when the case only measures an nginx default (the reason is in the comment)


@dataclass
class Answer:
    status: int | str
    headers: dict
    body: bytes
    seconds: float


def send(addr: tuple[str, int], raw: bytes, timeout: float = 5.0, chunks: list[bytes] | None = None) -> Answer:
    """Sends `raw` (or `chunks` one after another), reads one response; NOT_HTTP when the server closed the
    connection without a status line."""
    t0 = time.monotonic()
    with socket.create_connection(addr, timeout=timeout) as s:
        try:
            for c in chunks or [raw]:
                s.sendall(c)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything (413 on a huge body)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                part = s.recv(65536)
                if not part:
                    break
                data += part
            head, _, rest = data.partition(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1."):
                return Answer(NOT_HTTP, {}, data, time.monotonic() - t0)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0") or 0)
            while len(rest) < n:
                part = s.recv(65536)
                if not part:
                    break
                rest += part
            return Answer(status, headers, rest[:n] if n else rest, time.monotonic() - t0)
        except (ConnectionResetError, socket.timeout, ValueError, IndexError):
            return Answer(NOT_HTTP, {}, data, time.monotonic() - t0)


def req(method: str, path: str, body: bytes | None = None, headers: dict | None = None, host: str = "x") -> bytes:
    h = {"Host": host, "Connection": "close", **(headers or {})}
    if body is not None and "Content-Length" not in h and "Transfer-Encoding" not in h:
        h["Content-Length"] = str(len(body))
    return (f"{method} {path} HTTP/1.1\r\n".encode() + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in h.items())
            + b"\r\n" + (body or b""))


def post_json(path: str, body: bytes, extra: dict | None = None) -> bytes:
    return req("POST", path, body, {"Content-Type": "application/json", **(extra or {})})


START = "/api/game/start"
GAME = "/api/game/00000000-0000-4000-8000-000000000000"


def cases() -> list[Case]:
    big_name = json.dumps({"username": "a" * 17000}).encode()
    deep = b'{"username":"abc","categories":' + b"[" * 129 + b"]" * 129 + b"}"
    very_deep = b"[" * 100000 + b"]" * 100000  # over 16 KiB: the size limit comes first
    deep_16k = b"[" * 8000 + b"]" * 8000
    sql = "abc'; DROP TABLE players;--"
    html = "<script>alert(1)</script>"
    return [
        # Size
        Case("body over 16 KiB", post_json(START, big_name), {413}, "payload_too_large"),
        Case("Content-Length of 10 GB, tiny body", req("POST", START, b"{}", {"Content-Type": "application/json",
             "Content-Length": "10737418240"}), {413}, "payload_too_large", max_seconds=1),
        Case("Content-Length of 20000, body never sent", req("POST", START, b"", {"Content-Type": "application/json",
             "Content-Length": "20000"}), {413}, "payload_too_large", max_seconds=1),
        # A client that stops sending its body is not a dependency failure: 408 (or 400, or a closed connection)
        # within the request timeout, never a 5xx that would count against the availability SLO.
        # (Through the proxy this only measures nginx's client_body_timeout, 60 s: skipped there.)
        Case("body shorter than its Content-Length", req("POST", START, b'{"username"', {
             "Content-Type": "application/json", "Content-Length": "100"}), {400, 408, NOT_HTTP}, protocol=True,
             max_seconds=11, edge="skip"),
        Case("chunked body over 16 KiB", req("POST", START, b"".join(
            b"%x\r\n%s\r\n" % (1000, b"a" * 1000) for _ in range(20)) + b"0\r\n\r\n",
            {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}), {413}, "payload_too_large"),
        # Encoding and JSON shape
        Case("invalid UTF-8 in a JSON string", post_json(START, b'{"username":"ab\xff\xfe"}'), {400},
             "invalid_json"),
        Case("JSON nested 129 deep", post_json(START, deep), {400}, "invalid_json"),
        Case("JSON nested 8000 deep (under 16 KiB)", post_json(START, deep_16k), {400}, "invalid_json"),
        Case("JSON nested 100000 deep (over 16 KiB)", post_json(START, very_deep), {413}, "payload_too_large"),
        Case("number 1e400", post_json(START, b'{"username":"abcd","difficulty":1e400}'), {400}),
        Case("integer beyond 2^64 as a card id", post_json(GAME + "/flip", b'{"cardId":184467440737095516160000}'),
             {400}),
        Case("huge integer limit", req("GET", "/api/leaderboard?limit=99999999999999999999999999"), {400},
             "validation_failed"),
        Case("negative offset", req("GET", "/api/scores/alice?offset=-1"), {400}, "validation_failed"),
        Case("not an object", post_json(START, b"[]"), {400}),
        Case("JSON null", post_json(START, b"null"), {400}),
        Case("empty body", post_json(START, b""), {400}, "invalid_json"),
        Case("byte-order mark", post_json(START, b'\xef\xbb\xbf{"username":"abcd"}'), {400, 201}),
        Case("truncated JSON", post_json(START, b'{"username":"ab'), {400}, "invalid_json"),
        Case("wrong types", post_json(START, b'{"username":["abc"],"difficulty":{"x":1},"daily":"yes"}'), {400},
             "validation_failed"),
        Case("eleven categories", post_json(START, json.dumps({"username": "abcd", "categories": ["food"] * 11})
                                            .encode()), {400}, "validation_failed"),
        # Names
        Case("SQL in a username", post_json(START, json.dumps({"username": sql}).encode()), {400},
             "validation_failed", [sql, "DROP TABLE"]),
        Case("SQL in a username (path)", req("GET", "/api/scores/abc'%3B%20DROP%20TABLE%20players%3B--"), {400},
             "validation_failed", ["DROP TABLE"]),
        Case("HTML in a username", post_json("/api/scores/user", json.dumps({"username": html}).encode()), {400},
             "validation_failed", ["<script", "alert(1)"]),
        Case("HTML in a query value", req("GET", "/api/leaderboard?timeframe=%3Cscript%3Ealert(1)%3C/script%3E"),
             {400}, "validation_failed", ["<script", "alert(1)"]),
        Case("NUL in a username", post_json(START, b'{"username":"ab\\u0000cd"}'), {400}, "validation_failed"),
        Case("full-width letters in a username", post_json(START, json.dumps({"username": "ａｄｍｉｎ"}).encode()),
             {400}, "validation_failed"),
        Case("right-to-left override in a username", post_json(START, json.dumps({"username": "abc\u202edcba"})
                                                                .encode()), {400}, "validation_failed"),
        # Headers
        Case("text/plain body", req("POST", START, b'{"username":"abcd"}', {"Content-Type": "text/plain"}), {415},
             "unsupported_media_type"),
        Case("no Content-Type", req("POST", START, b'{"username":"abcd"}'), {415}, "unsupported_media_type"),
        Case("Idempotency-Key of 129 characters", post_json(START, b'{"username":"abcd"}',
                                                            {"Idempotency-Key": "k" * 129}), {400},
             "validation_failed"),
        Case("non-ASCII Idempotency-Key", post_json(START, b'{"username":"abcd"}',
                                                    {"Idempotency-Key": "cl\xe9"}), {400}, "validation_failed"),
        Case("forged token", post_json(GAME + "/flip", b'{"cardId":"abcdefghijkl"}',
                                       {"Authorization": "Bearer pt1.00000000-0000-4000-8000-000000000000.AAAA"}),
             {401, 404}),
        Case("10 KB of garbage as a token", post_json(GAME + "/flip", b'{"cardId":"abcdefghijkl"}',
                                                     {"Authorization": "Bearer " + "x" * 10000}), {401, 404},
             edge="protocol"),
        Case("X-Request-Id of 4 KB (not echoed)", req("GET", "/api/game/config", None, {"X-Request-Id": "r" * 4096}),
             {200}, None, ["r" * 200]),
        Case("header block of 200 KB", req("GET", "/api/game/config", None, {"X-Big": "b" * 200000}),
             {200, 400, 431, 494, NOT_HTTP}, protocol=True),
        Case("URL of 100 KB", req("GET", "/api/" + "u" * 100000), {400, 404, 414, 431, NOT_HTTP}, protocol=True),
        # Paths
        Case("path traversal", req("GET", "/../../../../etc/passwd"), {400, 404}, None, ["root:"],
             edge="protocol"),
        Case("encoded path traversal", req("GET", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd"), {400, 404}, None, ["root:"],
             edge="protocol"),
        Case("encoded slash traversal", req("GET", "/js/..%2f..%2f..%2fetc%2fpasswd"), {400, 404}, None, ["root:"],
             edge="protocol"),
        Case("a number as a game id", post_json("/api/game/99999999999999999999999999/flip", b'{"cardId":"a"}'),
             {400}, "validation_failed"),
        Case("unknown method", req("BREW", "/api/leaderboard"), {400, 404, 405, 501}),
        # Protocol
        Case("Content-Length and Transfer-Encoding together (smuggling)", req("POST", START, b"0\r\n\r\n",
             {"Content-Type": "application/json", "Content-Length": "5", "Transfer-Encoding": "chunked"}),
             {400, NOT_HTTP}, protocol=True),
        Case("two Content-Length values", req("POST", START, b"{}", {"Content-Type": "application/json",
             "Content-Length": "2\r\nContent-Length: 9"}), {400, NOT_HTTP}, protocol=True),
        Case("not HTTP at all", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)), {400, NOT_HTTP},
             protocol=True),
        Case("HTTP/9.9", b"GET /api/leaderboard HTTP/9.9\r\nHost: x\r\n\r\n", {400, 505, NOT_HTTP}, protocol=True),
    ]


def judge(case: Case, a: Answer) -> str | None:
    """None when the answer is acceptable, else why not."""
    if a.status not in case.expect:
        return f"got {a.status} after {a.seconds:.1f}s, expected one of {sorted(map(str, case.expect))}"
    if a.seconds > case.max_seconds:
        return f"answered {a.status} after {a.seconds:.1f}s (at most {case.max_seconds:.0f}s)"
    text = a.body.decode("utf-8", "replace")
    for f in case.forbid:
        if f in text or any(f in v for v in a.headers.values()):
            return f"the answer echoes {f[:30]!r}"
    if isinstance(a.status, int) and a.status >= 400 and not case.protocol:
        try:
            body = json.loads(a.body)
        except ValueError:
            return f"{a.status} is not JSON: {text[:80]!r}"
        if body.get("success") is not False or not body.get("message") or not body.get("error"):
            return f"{a.status} lacks the error shape: {text[:120]!r}"
        if case.code and body["error"] != case.code:
            return f"error {body['error']!r}, expected {case.code!r}"
    rid = a.headers.get("x-request-id", "")
    if len(rid) > 128:
        return "X-Request-Id echoed beyond 128 characters"
    return None
