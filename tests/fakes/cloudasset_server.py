"""A local fake of Cloud Asset Inventory's REST ``ListAssets`` for the GCP connector's tests.

It answers ``GET /v1/{parent=*/*}/assets`` the way ``cloudasset.googleapis.com`` does: query parameters
``assetTypes`` (repeated), ``contentType`` (a name, or a number when the client asks for
``$alt=json;enum-encoding=int`` as the generated REST client does), ``pageSize`` and ``pageToken``;
the answer is ``{readTime, assets, nextPageToken}`` in camelCase JSON, with ``assets`` and
``nextPageToken`` omitted when empty (proto3 JSON). Pages are capped at ``max_page_size`` so every test
pages whatever ``pageSize`` the client asks for.

Assets are seeded by the test per (parent, content type). Faults are injected with ``fail(...)``: an HTTP
status with a Google error body (and optional headers such as ``Retry-After``), a delay before answering
(a slow response for timeout tests), for the first N matching requests or for all of them. Every request
is recorded in ``requests``. ``latency`` (seconds) delays every answer, like a remote service's round trip
(benchmarks); ``clear_data()`` forgets the seeded assets and ``reset()`` the faults and recorded requests.

    with CloudAssetFake() as fake:
        fake.add_assets("projects/p", "RESOURCE", [asset, ...])
        fake.fail(status=429, times=2, headers={"Retry-After": "1"})
        ... AssetServiceClient(..., client_options=ClientOptions(api_endpoint=fake.endpoint)) ...
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CONTENT_TYPES = {0: "CONTENT_TYPE_UNSPECIFIED", 1: "RESOURCE", 2: "IAM_POLICY", 4: "ORG_POLICY",
                 5: "ACCESS_POLICY", 6: "OS_INVENTORY", 7: "RELATIONSHIP"}
# osconfig.v1.Inventory.Item enums, for answers to clients asking for integer enums
ITEM_ORIGIN_TYPES = {"ORIGIN_TYPE_UNSPECIFIED": 0, "INVENTORY_REPORT": 1}
ITEM_TYPES = {"TYPE_UNSPECIFIED": 0, "INSTALLED_PACKAGE": 1, "AVAILABLE_PACKAGE": 2}
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
                504: "DEADLINE_EXCEEDED"}
PATH = re.compile(r"^/v1/(?P<parent>[^/]+/[^/]+)/assets$")


@dataclass
class Fault:
    """An injected failure for requests matching ``parent``/``content_type`` (``None`` matches any)."""

    status: int | None = None  # HTTP status to answer with; None: answer normally (after ``delay``)
    times: int | None = None  # how many matching requests it hits; None: all of them
    parent: str | None = None
    content_type: str | None = None
    delay: float = 0.0  # seconds to wait before answering (slow responses)
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    body: bytes | None = None  # answer with these bytes (``status``, default 200): a proxy's HTML page, say
    hits: int = 0

    def matches(self, parent: str, content_type: str) -> bool:
        return ((self.parent is None or self.parent == parent)
                and (self.content_type is None or self.content_type == content_type)
                and (self.times is None or self.hits < self.times))


@dataclass
class SeenRequest:
    path: str
    parent: str | None
    content_type: str | None
    asset_types: list[str]
    page_size: int | None
    page_token: str | None
    status: int
    query: dict[str, list[str]]
    headers: dict[str, str]


class CloudAssetFake:
    """A threaded ``ListAssets`` server on 127.0.0.1 (a free port); use as a context manager."""

    def __init__(self, max_page_size: int = 2, read_time: str = "2024-05-01T10:00:00.123456Z",
                 latency: float = 0.0):
        self.max_page_size = max_page_size
        self.latency = latency  # seconds every answer waits (a service's round trip)
        self.read_time = read_time
        self.assets: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.faults: list[Fault] = []
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- seeding and fault injection -------------------------------------------------------------------

    def add_assets(self, parent: str, content_type: str, assets: list[dict[str, Any]]) -> None:
        self.assets.setdefault((parent, content_type), []).extend(copy.deepcopy(assets))

    def fail(self, status: int | None = None, *, times: int | None = None, parent: str | None = None,
             content_type: str | None = None, delay: float = 0.0, headers: dict[str, str] | None = None,
             message: str | None = None, body: bytes | None = None) -> Fault:
        fault = Fault(status=status, times=times, parent=parent, content_type=content_type, delay=delay,
                      headers=dict(headers or {}), message=message, body=body)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_data(self) -> None:
        """Forget every seeded asset (faults and recorded requests stay)."""
        with self._lock:
            self.assets.clear()

    def reset(self) -> None:
        """Forget faults and recorded requests (seeded assets stay)."""
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def requests_for(self, parent: str | None = None, content_type: str | None = None) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if (parent is None or r.parent == parent)
                    and (content_type is None or r.content_type == content_type)]

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> CloudAssetFake:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="cloudasset-fake", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CloudAssetFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ----------------------------------------------------------------------------------

    def _take_fault(self, parent: str, content_type: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(parent, content_type):
                    fault.hits += 1
                    return fault
        return None

    def _answer(self, path: str, query: dict[str, list[str]]
                ) -> tuple[int, dict[str, Any] | bytes, dict[str, str]]:
        match = PATH.match(path)
        if not match:
            return _error(404, f"no such method: {path}")
        parent = match["parent"]
        content_type = _content_type(query)
        fault = self._take_fault(parent, content_type)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.body is not None:
                return fault.status or 200, fault.body, fault.headers
            if fault.status is not None:
                message = fault.message or f"injected {fault.status} for {parent}"
                status, body, _ = _error(fault.status, message)
                return status, body, fault.headers
        try:
            page_size = int((query.get("pageSize") or ["0"])[0]) or 100
            offset = _decode_token((query.get("pageToken") or [""])[0])
        except ValueError:
            return _error(400, "Invalid page token or page size")
        wanted_types = query.get("assetTypes") or []
        assets = [a for a in self.assets.get((parent, content_type), [])
                  if not wanted_types or a.get("assetType") in wanted_types]
        size = min(page_size, self.max_page_size)
        page = copy.deepcopy(assets[offset:offset + size])
        if "enum-encoding=int" in (query.get("$alt") or [""])[0]:
            page = [_integer_enums(asset) for asset in page]
        body: dict[str, Any] = {"readTime": self.read_time}
        if page:
            body["assets"] = page
        if offset + size < len(assets):
            body["nextPageToken"] = _encode_token(offset + size)
        return 200, body, {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a slow handler the client gave up on must not hold the test up

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that timed out closes its socket: writing the late answer fails, which is expected
        pass


class _Handler(BaseHTTPRequestHandler):
    server_fake: CloudAssetFake
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        fake = self.server_fake
        if fake.latency:
            time.sleep(fake.latency)
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        status, body, headers = fake._answer(url.path, query)
        match = PATH.match(url.path)
        with fake._lock:
            fake.requests.append(SeenRequest(
                path=url.path, parent=match["parent"] if match else None,
                content_type=_content_type(query),
                asset_types=query.get("assetTypes") or [],
                page_size=int(query["pageSize"][0]) if query.get("pageSize") else None,
                page_token=(query.get("pageToken") or [None])[0], status=status, query=query,
                headers=dict(self.headers.items())))
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass


def _content_type(query: dict[str, list[str]]) -> str:
    raw = (query.get("contentType") or [""])[0]
    return CONTENT_TYPES.get(int(raw), raw) if raw.isdigit() else raw


def _error(status: int, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    error = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    return status, {"error": error}, {}


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("bad page token") from exc
    if not text.startswith("offset:"):
        raise ValueError("bad page token")
    return int(text.removeprefix("offset:"))


def _integer_enums(asset: dict[str, Any]) -> dict[str, Any]:
    """What the API sends to a client asking for integer enums: inventory item enums as numbers."""
    for item in ((asset.get("osInventory") or {}).get("items") or {}).values():
        if item.get("originType") in ITEM_ORIGIN_TYPES:
            item["originType"] = ITEM_ORIGIN_TYPES[item["originType"]]
        if item.get("type") in ITEM_TYPES:
            item["type"] = ITEM_TYPES[item["type"]]
    return asset
