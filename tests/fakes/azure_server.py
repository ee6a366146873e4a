"""A local fake of Azure Resource Graph and the Log Analytics query API for the Azure connector's tests.

Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources?api-version=...`` with a QueryRequest
body (``subscriptions``, ``query``, ``options.$top`` / ``$skipToken`` / ``resultFormat``). The query is
understood by simple substring checks: the table is its first word (``resources``, ``securityresources``,
``resourcecontainers``), the wanted types are its quoted ``'microsoft....'`` literals, an optional
``name in~ (...)`` filters names, ``order by id`` sorts, ``project a, b`` keeps columns. The answer is the
documented envelope ``{totalRecords, count, data, facets, resultTruncated: "false", $skipToken}`` with
``$skipToken`` only when more rows follow, and pages are capped at ``max_page_size`` so every test pages.
Every response carries ``x-ms-user-quota-remaining`` / ``x-ms-user-quota-resets-after`` (hh:mm:ss); with
``set_quota(limit, window)`` the quota is enforced: a query arriving when it is used up gets a 429
*without* ``Retry-After`` (only a client reading the quota headers avoids it).

Log Analytics: ``POST /v1/workspaces/{id}/query`` with ``{query, timespan}``; the KQL is understood just
enough for the connector's query: ``ConfigDataType in (...)``, ``hash(_ResourceId, n) == i`` (the fake's
hash is CRC-32, not Kusto's xxhash), ``summarize arg_max(TimeGenerated, *) by k1, k2, ...`` (latest row
per key), ``| count`` and ``| project a, b``. The time window is not applied. The answer is
``{tables: [{name: "PrimaryResult", columns: [{name, type}], rows: [[...]]}]}``.

Faults (``fail``): an HTTP status with an ARM-shaped error body ``{"error": {"code", "message"}}`` and
headers (e.g. ``Retry-After``), a delay before answering (slow responses), or a Log Analytics partial
result; for the first N matching requests or all of them; matching on the API, a subscription contained
in the request, a workspace or a query substring. ``forbid(sub)`` answers 403 AuthorizationFailed to any
query naming ``sub``; ``hide(sub)`` silently leaves ``sub`` out, as Resource Graph does for subscriptions
the caller cannot see. Every request is recorded in ``requests``. ``latency`` (seconds) delays every
answer, like a remote service's round trip (benchmarks); ``clear_data()`` forgets the seeded rows and
``reset()`` the faults and recorded requests, so one server can serve several nights.

    with AzureFake() as fake:
        fake.add_resources([vm_row, ...])
        fake.fail(status=429, times=1, headers={"Retry-After": "1"})
        ... ResourceGraphClient(cred, base_url=fake.url) / LogsQueryClient(cred, endpoint=fake.url + "/v1")
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GRAPH_PATH = "/providers/Microsoft.ResourceGraph/resources"
LOGS_PATH = re.compile(r"^/v1/workspaces/(?P<workspace>[^/]+)/query$")
SECURITY_TYPES = {"microsoft.security/pricings", "microsoft.security/assessments"}
DATETIME_COLUMNS = {"TimeGenerated", "DateCreated", "DateModified"}
ERROR_CODES = {400: "BadRequest", 401: "AuthenticationFailed", 403: "AuthorizationFailed", 404: "NotFound",
               429: "RateLimiting", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
               504: "GatewayTimeout"}
PARTIAL_ERROR = {
    "code": "PartialError",
    "message": "There were some errors when processing your query.",
    "details": [{"code": "EngineError", "message": "Something went wrong processing your query on the server.",
                 "innererror": {"code": "-2133196797", "message": "Query result set has exceeded the internal "
                                "data size limit 67108864 (E_QUERY_RESULT_SET_TOO_LARGE)."}}],
}


@dataclass
class Fault:
    """An injected failure for matching requests (``None`` criteria match anything)."""

    status: int | None = None  # HTTP status to answer with; None: answer normally (after ``delay``)
    times: int | None = None  # how many matching requests it hits; None: all of them
    api: str | None = None  # "graph" or "logs"
    subscription: str | None = None  # the request's subscriptions include this one
    workspace: str | None = None
    query_contains: str | None = None
    delay: float = 0.0  # seconds to wait before answering (slow responses)
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None  # error code of the ARM error body
    message: str | None = None
    partial: bool = False  # Log Analytics: HTTP 200 with half the rows and a top-level "error"
    hits: int = 0

    def matches(self, api: str, subscriptions: list[str], workspace: str | None, query: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return ((self.api is None or self.api == api)
                and (self.subscription is None or self.subscription.lower() in subscriptions)
                and (self.workspace is None or self.workspace == workspace)
                and (self.query_contains is None or self.query_contains.lower() in query.lower()))


@dataclass
class SeenRequest:
    method: str
    path: str
    params: dict[str, list[str]]
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival
    status: int = 0

    @property
    def api(self) -> str:
        return "graph" if self.path == GRAPH_PATH else "logs"

    @property
    def query(self) -> str:
        return str(self.body.get("query", ""))

    @property
    def subscriptions(self) -> list[str]:
        return [s.lower() for s in self.body.get("subscriptions") or []]

    @property
    def skip_token(self) -> str | None:
        return (self.body.get("options") or {}).get("$skipToken")


class AzureFake:
    def __init__(self, max_page_size: int = 2, latency: float = 0.0):
        self.max_page_size = max_page_size
        self.latency = latency  # seconds every answer waits (a service's round trip)
        self.tables: dict[str, list[dict[str, Any]]] = {"resources": [], "securityresources": []}
        self.subscriptions: list[str] = []
        self.hidden: set[str] = set()
        self.forbidden: set[str] = set()
        self.echo_authorization = False  # put the request's Authorization header in 403 messages
        self.log_rows: dict[str, list[dict[str, Any]]] = {}
        self.faults: list[Fault] = []
        self.requests: list[SeenRequest] = []
        self.quota_limit: int | None = None
        self.quota_window = 5.0
        self._window_start: float | None = None
        self._window_used = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- seeding ---------------------------------------------------------------------------------------------
    def add_resources(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            table = "securityresources" if str(row.get("type", "")).lower() in SECURITY_TYPES else "resources"
            self.tables[table].append(copy.deepcopy(row))
            sub = str(row.get("subscriptionId", "")).lower()
            if sub and sub not in self.subscriptions:
                self.subscriptions.append(sub)

    def add_subscriptions(self, subscriptions: list[str]) -> None:
        for sub in subscriptions:
            if sub.lower() not in self.subscriptions:
                self.subscriptions.append(sub.lower())

    def hide(self, subscription: str) -> None:
        self.hidden.add(subscription.lower())

    def forbid(self, subscription: str) -> None:
        self.forbidden.add(subscription.lower())

    def add_log_rows(self, workspace: str, rows: list[dict[str, Any]]) -> None:
        self.log_rows.setdefault(workspace, []).extend(copy.deepcopy(rows))

    def fail(self, **kwargs: Any) -> Fault:
        fault = Fault(**kwargs)
        self.faults.append(fault)
        return fault

    def set_quota(self, limit: int, window_seconds: float) -> None:
        self.quota_limit, self.quota_window = limit, window_seconds

    def clear_data(self) -> None:
        """Forget every seeded row, subscription and workspace (faults and recorded requests stay)."""
        with self._lock:
            self.tables = {"resources": [], "securityresources": []}
            self.subscriptions = []
            self.log_rows = {}

    def reset(self) -> None:
        """Forget faults and recorded requests (seeded data stay)."""
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    # -- inspection ------------------------------------------------------------------------------------------
    def graph_requests(self, contains: str | None = None) -> list[SeenRequest]:
        return [r for r in self.requests if r.api == "graph" and (contains is None or contains in r.query)]

    def log_requests(self) -> list[SeenRequest]:
        return [r for r in self.requests if r.api == "logs"]

    # -- server ----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> AzureFake:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> AzureFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering -------------------------------------------------------------------------------------------
    def _take_fault(self, api: str, subs: list[str], workspace: str | None, query: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(api, subs, workspace, query):
                    fault.hits += 1
                    return fault
        return None

    def _quota(self) -> tuple[int, dict[str, str]]:
        """(remaining after this request or -1 if refused, headers)."""
        with self._lock:
            now = time.monotonic()
            if self.quota_limit is None:
                return 14, {"x-ms-user-quota-remaining": "14", "x-ms-user-quota-resets-after": "00:00:05"}
            if self._window_start is None or now - self._window_start >= self.quota_window:
                self._window_start, self._window_used = now, 0
            resets = max(0.0, self.quota_window - (now - self._window_start))
            refused = self._window_used >= self.quota_limit
            if not refused:
                self._window_used += 1
            remaining = self.quota_limit - self._window_used
            seconds = math.ceil(resets)
            resets_after = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            headers = {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": resets_after}
            return (-1 if refused else remaining), headers

    def graph_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        query = str(body.get("query", ""))
        lowered = query.lower()
        table = lowered.split("|")[0].strip()
        subs = [s.lower() for s in body.get("subscriptions") or []]
        if table == "resourcecontainers":
            rows = [{"id": f"/subscriptions/{s}", "name": s, "type": "microsoft.resources/subscriptions",
                     "subscriptionId": s, "tenantId": "11111111-1111-1111-1111-111111111111",
                     "properties": {"state": "Enabled"}} for s in self.subscriptions]
        else:
            rows = list(self.tables.get(table, []))
        types = set(re.findall(r"'(microsoft\.[^']+)'", lowered))
        if types:
            rows = [r for r in rows if str(r.get("type", "")).lower() in types]
        names = re.search(r"\|\s*where name in~?\s*\(([^)]*)\)", lowered)
        if names:
            wanted = set(re.findall(r"'([^']+)'", names.group(1)))
            rows = [r for r in rows if str(r.get("name", "")).lower() in wanted]
        rows = [r for r in rows if str(r.get("subscriptionId", "")).lower() not in self.hidden]
        if subs:
            rows = [r for r in rows if str(r.get("subscriptionId", "")).lower() in subs]
        if "order by id" in lowered:
            rows.sort(key=lambda r: str(r.get("id", "")).lower())
        project = re.search(r"\|\s*project\s+([^|]+)", query)
        if project:
            columns = [c.strip() for c in project.group(1).split(",")]
            rows = [{c: r.get(c) for c in columns} for r in rows]
        options = body.get("options") or {}
        top = min(int(options.get("$top") or 100), self.max_page_size)
        token = options.get("$skipToken")
        offset = json.loads(base64.b64decode(token))["offset"] if token else 0
        page = rows[offset:offset + top]
        answer: dict[str, Any] = {"totalRecords": len(rows), "count": len(page), "data": copy.deepcopy(page),
                                  "facets": [], "resultTruncated": "false"}
        if offset + top < len(rows):
            answer["$skipToken"] = base64.b64encode(json.dumps({"offset": offset + top}).encode()).decode()
        return answer

    def logs_answer(self, workspace: str, body: dict[str, Any]) -> dict[str, Any]:
        query = str(body.get("query", ""))
        rows = list(self.log_rows.get(workspace, []))
        types = re.search(r"ConfigDataType in \(([^)]*)\)", query)
        if types:
            wanted = set(re.findall(r"'([^']+)'", types.group(1)))
            rows = [r for r in rows if r.get("ConfigDataType") in wanted]
        rows = [r for r in rows if r.get("_ResourceId")]
        split = re.search(r"hash\(_ResourceId,\s*(\d+)\)\s*==\s*(\d+)", query)
        if split:
            parts, part = int(split.group(1)), int(split.group(2))
            rows = [r for r in rows if zlib.crc32(r["_ResourceId"].encode()) % parts == part]
        by = re.search(r"arg_max\(TimeGenerated,\s*\*\)\s*by\s+([^|\n]+)", query)
        if by:
            keys = [k.strip() for k in by.group(1).split(",")]
            latest: dict[tuple, dict[str, Any]] = {}
            for row in rows:
                key = tuple(row.get(k) for k in keys)
                if key not in latest or row["TimeGenerated"] > latest[key]["TimeGenerated"]:
                    latest[key] = row
            rows = list(latest.values())
        if re.search(r"\|\s*count\b", query):
            return {"tables": [{"name": "PrimaryResult", "columns": [{"name": "Count", "type": "long"}],
                                "rows": [[len(rows)]]}]}
        project = re.search(r"\|\s*project\s+([^|\n]+)", query)
        columns = ([c.strip() for c in project.group(1).split(",")] if project
                   else sorted({k for r in rows for k in r}))
        rows.sort(key=lambda r: tuple(str(r.get(c) or "") for c in columns))
        return {"tables": [{
            "name": "PrimaryResult",
            "columns": [{"name": c, "type": "datetime" if c in DATETIME_COLUMNS else "string"} for c in columns],
            "rows": [[r.get(c) for c in columns] for r in rows],
        }]}


class _Handler(BaseHTTPRequestHandler):
    fake: AzureFake

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        fake = self.fake
        if fake.latency:
            time.sleep(fake.latency)
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        seen = SeenRequest("POST", parts.path, parse_qs(parts.query), body, dict(self.headers.items()),
                           time.monotonic())
        with fake._lock:
            fake.requests.append(seen)
        logs = LOGS_PATH.match(parts.path)
        if parts.path == GRAPH_PATH:
            self._graph(seen)
        elif logs:
            self._logs(seen, logs.group("workspace"))
        else:
            self._send(seen, 404, {"error": {"code": "NotFound", "message": f"no route {parts.path}"}})

    def _graph(self, seen: SeenRequest) -> None:
        fake = self.fake
        if "api-version" not in seen.params:
            self._send(seen, 400, {"error": {"code": "MissingApiVersionParameter",
                                             "message": "The api-version query parameter is required."}})
            return
        remaining, quota_headers = fake._quota()
        fault = fake._take_fault("graph", seen.subscriptions, None, seen.query)
        if fault is not None and self._fault(seen, fault, quota_headers):
            return
        if remaining < 0:
            self._send(seen, 429, {"error": {"code": "RateLimiting", "message": "Please provide below info when "
                                             "asking for support: timestamp = ..., correlationId = ...",
                                             "details": [{"code": "RateLimiting", "message": "Client application "
                                                          "has been throttled and should not attempt to repeat "
                                                          "the request until an amount of time has elapsed."}]}},
                       quota_headers)
            return
        denied = [s for s in seen.subscriptions if s in fake.forbidden]
        if denied:
            message = (f"The client '9f0e1d2c-3b4a-5968-7a6b-5c4d3e2f1a0b' with object id "
                       f"'9f0e1d2c-3b4a-5968-7a6b-5c4d3e2f1a0b' does not have authorization to perform action "
                       f"'Microsoft.ResourceGraph/resources/read' over scope '/subscriptions/{denied[0]}' or the "
                       f"scope is invalid. If access was recently granted, please refresh your credentials.")
            if fake.echo_authorization:
                message += f" (request header Authorization: {seen.headers.get('Authorization', '')})"
            self._send(seen, 403, {"error": {"code": "AuthorizationFailed", "message": message}}, quota_headers)
            return
        self._send(seen, 200, fake.graph_answer(seen.body), quota_headers)

    def _logs(self, seen: SeenRequest, workspace: str) -> None:
        fake = self.fake
        fault = fake._take_fault("logs", [], workspace, seen.query)
        if fault is not None:
            if fault.partial:
                answer = fake.logs_answer(workspace, seen.body)
                table = answer["tables"][0]
                table["rows"] = table["rows"][: max(1, len(table["rows"]) // 2)]
                answer["error"] = PARTIAL_ERROR
                self._send(seen, 200, answer)
                return
            if self._fault(seen, fault, {}):
                return
        if workspace not in fake.log_rows:
            self._send(seen, 404, {"error": {"code": "WorkspaceNotFoundError",
                                             "message": f"The workspace could not be found: {workspace}"}})
            return
        self._send(seen, 200, fake.logs_answer(workspace, seen.body))

    def _fault(self, seen: SeenRequest, fault: Fault, headers: dict[str, str]) -> bool:
        """Apply a fault; True if it answered the request."""
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is None:
            return False
        code = fault.code or ERROR_CODES.get(fault.status, "Error")
        message = fault.message or f"injected {fault.status} {code}"
        self._send(seen, fault.status, {"error": {"code": code, "message": message}}, {**headers, **fault.headers})
        return True

    def _send(self, seen: SeenRequest, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        seen.status = status
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", f"fake-{id(seen):x}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass
