"""A small threaded fake of AWS Systems Manager for tests, with paging and fault injection.

moto answers HTTP 500 for the SSM calls edrcov needs, so this serves them itself, speaking SSM's AWS JSON
1.1 protocol (``POST /``, ``X-Amz-Target: AmazonSSM.<Operation>``, ``application/x-amz-json-1.1``):
DescribeInstanceInformation and ListInventoryEntries, paged with ``NextToken`` at ``page_size`` (small, so
every test pages). boto3 reaches it through ``AWS_ENDPOINT_URL_SSM`` or an ``endpoint_url``.

Which account is calling? A SigV4 request names only its access key id (``Credential=<key>/<date>/<region>/
...``). So the fake can also stand in front of STS (``AWS_ENDPOINT_URL_STS``): it forwards STS requests to
an upstream (moto) and, from each AssumeRole answer, learns which temporary access key belongs to which
account, exactly as STS knows it. Keys it never saw issued (the caller's own) belong to
``default_account``. The region comes from the same credential scope, so data are seeded per
(account, region).

Faults (``Fault``) are matched by operation and account and last ``times`` requests (or for ever):
``throttle`` (HTTP 429 ThrottlingException with Retry-After), ``server_error`` (HTTP 500), ``slow`` (sleep,
then answer: the client's read timeout fires first), ``deny`` (HTTP 400 AccessDeniedException; for the
operation ``AssumeRole``, STS's HTTP 403 AccessDenied instead of forwarding). ``calls`` counts every
request by (account, operation), faulted ones included. ``latency`` (seconds) delays every answer, like a
remote service's round trip (benchmarks); ``clear_data()`` forgets the seeded instances and inventory.

``replay_describe`` (benchmarks) puts the fake in front of EC2 as well (``AWS_ENDPOINT_URL_EC2`` pointed
here, forwarded upstream like STS) and keeps each successful ``Describe*`` answer, replaying it for the same
(account, region, request): moto spends about 7 ms of CPU per instance serializing DescribeInstances, CPU
that a real cloud's servers would not take from the cores of the machine being measured. The EC2 estate must
not change while it is on.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs

JSON = "application/x-amz-json-1.1"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/")
_ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")


class ErrorResponse(Exception):
    """A response chosen by a fault: HTTP status, body, extra headers."""

    def __init__(self, status: int, body: bytes, content_type: str = JSON, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.content_type, self.headers = status, body, content_type, headers or {}


@dataclass
class Fault:
    kind: Literal["throttle", "server_error", "slow", "deny"]
    operation: str | None = None  # an SSM operation name or "AssumeRole"; None: every SSM operation
    account: str | None = None  # None: every account
    times: int | None = None  # requests it applies to; None: for ever
    seconds: float = 2.0  # for "slow"

    def matches(self, operation: str, account: str) -> bool:
        wanted_op = self.operation == operation if self.operation else operation != "AssumeRole"
        return wanted_op and self.account in (None, account) and self.times != 0


@dataclass
class _Region:
    instances: list[dict[str, Any]] = field(default_factory=list)
    inventory: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (instance, type) -> item
    deregistered: set[str] = field(default_factory=set)


class FakeSsm:
    """Start with ``with FakeSsm(...) as fake:`` (or ``start``/``stop``); seed data; add faults."""

    def __init__(self, page_size: int = 3, sts_upstream: str | None = None,
                 default_account: str = "123456789012", latency: float = 0.0, replay_describe: bool = False):
        self.page_size, self.sts_upstream, self.default_account = page_size, sts_upstream, default_account
        self.replay_describe = replay_describe
        self._replies: dict[tuple[str, str, bytes], tuple[int, bytes, str]] = {}
        self.replayed = 0  # answers replayed since the last ``reset``
        self.latency = latency  # seconds every answer waits (a service's round trip)
        self.calls: Counter[tuple[str, str]] = Counter()
        self.faults: list[Fault] = []
        self.issued_secrets: list[str] = []  # secret keys and session tokens STS handed out through us
        self.assume_role_requests: list[dict[str, str]] = []  # AssumeRole parameters, as sent
        self._regions: dict[tuple[str, str], _Region] = {}
        self._key_accounts: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeSsm:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeSsm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding --------------------------------------------------------------------------------------
    def add_instances(self, account: str, region: str, infos: list[dict[str, Any]]) -> None:
        self._region(account, region).instances.extend(infos)

    def add_inventory(self, account: str, region: str, instance_id: str, type_name: str,
                      entries: list[dict[str, str]], capture_time: str, schema_version: str = "1.1") -> None:
        item = {"CaptureTime": capture_time, "SchemaVersion": schema_version, "Entries": entries}
        self._region(account, region).inventory[(instance_id, type_name)] = item

    def deregister(self, account: str, region: str, instance_id: str) -> None:
        """Still listed by DescribeInstanceInformation, but gone when its inventory is asked for."""
        self._region(account, region).deregistered.add(instance_id)

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_data(self) -> None:
        """Forget every seeded instance and inventory item (faults, counts and learnt keys stay)."""
        with self._lock:
            self._regions.clear()

    def reset(self) -> None:
        """Forget faults and counts (seeded data, learnt keys and kept answers stay)."""
        with self._lock:
            self.faults.clear()
            self.calls.clear()
            self.replayed = 0
            self.assume_role_requests.clear()

    def _region(self, account: str, region: str) -> _Region:
        return self._regions.setdefault((account, region), _Region())

    # -- request handling -----------------------------------------------------------------------------
    def caller(self, authorization: str) -> tuple[str, str, str]:
        """(access key id, account, region) of a SigV4-signed request."""
        match = _CREDENTIAL.search(authorization or "")
        key, region = (match.group(1), match.group(2)) if match else ("", "us-east-1")
        with self._lock:
            return key, self._key_accounts.get(key, self.default_account), region

    def count_and_fault(self, operation: str, account: str, key: str) -> None:
        """Count the request, then raise the response of the first fault that applies, if any."""
        with self._lock:
            self.calls[(account, operation)] += 1
            fault = next((f for f in self.faults if f.matches(operation, account)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
        if fault is None:
            return
        if fault.kind == "slow":
            time.sleep(fault.seconds)
            return
        raise _fault_response(fault, operation, account, key)

    def ssm(self, operation: str, body: dict[str, Any], account: str, region: str) -> dict[str, Any]:
        data = self._region(account, region)
        if operation == "DescribeInstanceInformation":
            page, token = self._page(data.instances, body, operation)
            return {"InstanceInformationList": page} | ({"NextToken": token} if token else {})
        if operation == "ListInventoryEntries":
            return self._inventory_entries(data, body)
        raise ErrorResponse(400, _error("UnknownOperationException", f"{operation} is not faked"))

    def _inventory_entries(self, data: _Region, body: dict[str, Any]) -> dict[str, Any]:
        instance_id, type_name = body["InstanceId"], body["TypeName"]
        known = {info.get("InstanceId") for info in data.instances} - data.deregistered
        if instance_id not in known:
            raise ErrorResponse(400, _error("InvalidInstanceId", f"Instance {instance_id} is not valid"))
        item = data.inventory.get((instance_id, type_name))
        answer: dict[str, Any] = {"TypeName": type_name, "InstanceId": instance_id, "Entries": []}
        if item is None:
            return answer
        page, token = self._page(item["Entries"], body, f"{instance_id}/{type_name}")
        answer |= {"SchemaVersion": item["SchemaVersion"], "CaptureTime": item["CaptureTime"], "Entries": page}
        return answer | ({"NextToken": token} if token else {})

    def _page(self, items: list[Any], body: dict[str, Any], listing: str) -> tuple[list[Any], str | None]:
        start = _offset(body.get("NextToken"), listing)
        size = min(self.page_size, body.get("MaxResults") or self.page_size)
        end = start + size
        return items[start:end], (_token(listing, end) if end < len(items) else None)

    def upstream(self, form: bytes, headers: dict[str, str], account: str, key: str, region: str
                 ) -> tuple[int, bytes, str]:
        """A request for upstream (STS, or EC2 in front of which ``replay_describe`` puts the fake): a kept
        answer if there is one, else ``sts``'s forwarding, keeping a successful ``Describe*`` answer."""
        if not (self.replay_describe and b"Action=Describe" in form):
            return self.sts(form, headers, account, key)
        with self._lock:
            kept = self._replies.get((account, region, form))
            self.replayed += kept is not None
        if kept is not None:
            return kept
        answer = self.sts(form, headers, account, key)
        if answer[0] == 200:
            with self._lock:
                self._replies[(account, region, form)] = answer
        return answer

    def sts(self, form: bytes, headers: dict[str, str], account: str, key: str) -> tuple[int, bytes, str]:
        """Forward an STS request upstream, denying AssumeRole where a fault says so; learn issued keys."""
        params = {k: v[0] for k, v in parse_qs(form.decode()).items()}
        operation = params.get("Action", "")
        role_account = _role_account(params.get("RoleArn", ""))
        if operation == "AssumeRole":
            with self._lock:
                self.assume_role_requests.append(params)
        self.count_and_fault(operation, role_account or account, key)
        status, answer, content_type = _forward(self.sts_upstream or "", form, headers)
        if operation == "AssumeRole" and status == 200 and role_account:
            self._learn(answer, role_account)
        return status, answer, content_type

    def _learn(self, xml_answer: bytes, account: str) -> None:
        found = {el.tag.rsplit("}", 1)[-1]: el.text or "" for el in ET.fromstring(xml_answer).iter()}
        with self._lock:
            self._key_accounts[found["AccessKeyId"]] = account
            self.issued_secrets += [found["SecretAccessKey"], found["SessionToken"]]


def _role_account(role_arn: str) -> str | None:
    match = _ROLE_ACCOUNT.match(role_arn)
    return match.group(1) if match else None


def _token(listing: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{listing}|{offset}".encode()).decode()


def _offset(token: str | None, listing: str) -> int:
    if not token:
        return 0
    try:
        name, _, offset = base64.urlsafe_b64decode(token.encode()).decode().rpartition("|")
        if name == listing:
            return int(offset)
    except ValueError:
        pass
    raise ErrorResponse(400, _error("InvalidNextToken", "The specified token is not valid"))


def _error(code: str, message: str) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode()


def _fault_response(fault: Fault, operation: str, account: str, key: str) -> ErrorResponse:
    denied = (f"User: arn:aws:sts::{account}:assumed-role/EdrcovReadOnly/edrcov (credential {key}) is not "
              f"authorized to perform: ssm:{operation} on resource: arn:aws:ssm:*:{account}:* because no "
              "identity-based policy allows the action")
    if fault.kind == "throttle":
        return ErrorResponse(429, _error("ThrottlingException", "Rate exceeded"), headers={"Retry-After": "1"})
    if fault.kind == "server_error":
        return ErrorResponse(500, _error("InternalServerError", "An internal error occurred"))
    if operation == "AssumeRole":
        denied = (f"User with credential {key} is not authorized to perform: sts:AssumeRole on resource: "
                  f"arn:aws:iam::{account}:role/*")
        xml = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{denied}"
               f"</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
        return ErrorResponse(403, xml.encode(), content_type="text/xml")
    return ErrorResponse(400, _error("AccessDeniedException", denied))


def _forward(upstream: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
    request = urllib.request.Request(upstream + "/", data=body, method="POST", headers={
        name: value for name, value in headers.items() if name.lower() not in ("host", "content-length")})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "text/xml")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "text/xml")


def _handler_for(fake: FakeSsm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if fake.latency:
                time.sleep(fake.latency)
            key, account, region = fake.caller(self.headers.get("Authorization", ""))
            target = self.headers.get("X-Amz-Target", "")
            try:
                if not target:
                    self._send(*fake.upstream(body, dict(self.headers), account, key, region))
                    return
                operation = target.rpartition(".")[2]
                fake.count_and_fault(operation, account, key)
                answer = fake.ssm(operation, json.loads(body or b"{}"), account, region)
                self._send(200, json.dumps(answer).encode(), JSON)
            except ErrorResponse as fault:
                self._send(fault.status, fault.body, fault.content_type, fault.headers)

        def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
                  ) -> None:
            try:
                self.send_response(status)
                for name, value in {"Content-Type": content_type, "Content-Length": str(len(body)),
                                    "x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a "slow" fault outlived its read timeout)

        def log_message(self, *_: Any) -> None:
            pass

    return Handler
