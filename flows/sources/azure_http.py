"""Azure SDK plumbing for the Azure connector: credentials, pipeline tuning, throttling and error classes.

Both SDKs used here (``azure-mgmt-resourcegraph`` and ``azure-monitor-query``) run on azure-core pipelines,
so they share one per-retry policy (:class:`CallPolicy`) that counts every HTTP attempt into the
dataset's :class:`~flows.sources.base.RequestCounter` and honours Resource Graph's user quota headers.

Things about azure-core worth knowing (checked against azure-core 1.41):

* Its ``RetryPolicy`` retries 408/429/500/502/503/504 and honours ``Retry-After`` -- but only for
  idempotent methods. Resource Graph and Log Analytics queries are ``POST``: azure-core retries a POST
  only on 500/503/504 or when ``Retry-After`` is present, and never after a timeout or a dropped
  connection. Both queries are read-only, so every call passes ``retry_on_methods`` including POST.
* The bearer-token policy refuses plain ``http://`` unless the call passes ``enforce_https=False`` (the
  client constructor ignores that keyword); only the anonymous loopback mode does so.
* Unknown per-call keywords travel to the HTTP transport (requests raises ``TypeError`` for them), so the
  request counter travels as a per-call option that :class:`CallPolicy` pops before the transport.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy

from flows.sources.base import ErrorInfo, RequestCounter, register_classifier

log = logging.getLogger(__name__)

# azure-core logs every request and response (headers included) at INFO: keep that at WARNING unless the
# application configured the logger itself.
_http_log = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
if _http_log.level == logging.NOTSET:
    _http_log.setLevel(logging.WARNING)

COUNTER_OPTION = "edrcov_request_counter"
QUOTA_REMAINING = "x-ms-user-quota-remaining"
QUOTA_RESETS_AFTER = "x-ms-user-quota-resets-after"
SUBSCRIPTION_LIMIT_HIT = "x-ms-tenant-subscription-limit-hit"
RETRYABLE_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE", "POST"})


@dataclass(frozen=True)
class HttpTuning:
    """Timeouts and azure-core retry settings (module level: not in the config file yet; tests replace it)."""

    retry_total: int = 6  # azure-core retries per HTTP call (429 with Retry-After, 5xx, timeouts)
    retry_backoff_factor: float = 1.0  # seconds; exponential (0, 2, 4, 8, ...) when no Retry-After
    retry_backoff_max: float = 60.0
    connection_timeout: float = 30.0
    read_timeout: float = 300.0  # Resource Graph answers a 1000-row page in seconds
    max_quota_wait: float = 300.0  # longest sleep on x-ms-user-quota-resets-after
    log_analytics_server_timeout: int = 600  # Prefer: wait=600, the service's maximum (10 minutes)
    log_analytics_read_timeout: float = 660.0
    # Log Analytics answers at most 500,000 rows / ~64 MB per query, so the workspace is split by
    # hash(_ResourceId) into queries of at most this many rows (ConfigurationData rows: a few hundred bytes).
    log_analytics_rows_per_query: int = 50_000


TUNING = HttpTuning()


def client_kwargs() -> dict[str, Any]:
    """Keyword arguments for an SDK client's constructor (its azure-core RetryPolicy)."""
    return {
        "retry_total": TUNING.retry_total,
        "retry_backoff_factor": TUNING.retry_backoff_factor,
        "retry_backoff_max": TUNING.retry_backoff_max,
        "connection_timeout": TUNING.connection_timeout,
    }


def call_kwargs(counter: RequestCounter, *, anonymous: bool,
                read_timeout: float | None = None) -> dict[str, Any]:
    """Keyword arguments for one SDK call: retry POST, the timeouts, the counter, http for loopback."""
    kwargs: dict[str, Any] = {
        "retry_on_methods": RETRYABLE_METHODS,
        "connection_timeout": TUNING.connection_timeout,
        "read_timeout": read_timeout or TUNING.read_timeout,
        COUNTER_OPTION: counter,
    }
    if anonymous:
        kwargs["enforce_https"] = False
    return kwargs


# ---------------------------------------------------------------------------------------------------------
# Credentials


class AnonymousLoopbackCredential:
    """A fixed token for local test servers; only ever sent to a loopback ``http://`` address.

    The token is JWT-shaped on purpose, so that if a server ever echoed it, ``redact`` would remove it.
    """

    TOKEN = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJlZHJjb3YtbG9vcGJhY2sifQ.ZWRyY292LWFub255bW91cw"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.TOKEN, int(time.time()) + 3600)

    def close(self) -> None:
        pass


def is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, *, anonymous: bool, key: str) -> None:
    """Refuse the combinations that would leak or fail: anonymous off loopback, real tokens over http."""
    if anonymous and not is_loopback_http(url):
        raise ValueError(
            f"azure.credential = 'anonymous' is only allowed for a loopback http:// endpoint (a local test "
            f"server such as http://127.0.0.1:8080), but azure.{key} is {url!r}; use credential = 'default' "
            f"for real Azure endpoints")
    if not anonymous and urlsplit(url).scheme != "https":
        raise ValueError(
            f"azure.{key} must be an https:// URL when azure.credential = 'default' (Azure tokens are never "
            f"sent over plain http), got {url!r}")


def make_credential(anonymous: bool) -> Any:
    if anonymous:
        return AnonymousLoopbackCredential()
    from azure.identity import DefaultAzureCredential  # created per job, never at import

    return DefaultAzureCredential()


def scope_for(url: str) -> str:
    """The token scope of an Azure Resource Manager endpoint (sovereign clouds included)."""
    return url.rstrip("/") + "/.default"


# ---------------------------------------------------------------------------------------------------------
# Throttling and request counting


def _sleep(seconds: float) -> None:  # indirection so tests can observe waits
    time.sleep(seconds)


def parse_duration(text: str) -> float | None:
    """``hh:mm:ss`` (optionally with a fraction or a day part ``d.hh:mm:ss``) -> seconds."""
    try:
        days = 0.0
        if "." in text.split(":")[0]:
            day_text, _, text = text.partition(".")
            days = float(day_text)
        hours, minutes, seconds = text.split(":")
        return days * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


class QuotaGate:
    """Resource Graph's per-user quota (e.g. 15 queries per 5 s), shared by every thread of a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resume_at = 0.0

    def wait(self) -> float:
        with self._lock:
            delay = self._resume_at - time.monotonic()
        if delay <= 0:
            return 0.0
        delay = min(delay, TUNING.max_quota_wait)
        log.info("Resource Graph user quota exhausted: waiting %.1f s for it to reset", delay)
        _sleep(delay)
        return delay

    def update(self, headers: Any) -> None:
        remaining, resets = headers.get(QUOTA_REMAINING), headers.get(QUOTA_RESETS_AFTER)
        if remaining is None or resets is None:
            return
        try:
            left = int(remaining)
        except ValueError:
            return
        seconds = parse_duration(resets)
        if left > 0 or seconds is None:
            return
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)


_gates: dict[str, QuotaGate] = {}
_gates_lock = threading.Lock()


def quota_gate(endpoint: str) -> QuotaGate:
    with _gates_lock:
        return _gates.setdefault(endpoint.rstrip("/").lower(), QuotaGate())


class CallPolicy(SansIOHTTPPolicy):
    """Per-retry policy: counts each HTTP attempt, waits out an exhausted quota, reads the quota headers."""

    def __init__(self, gate: QuotaGate | None = None) -> None:
        super().__init__()
        self.gate = gate

    def on_request(self, request: PipelineRequest) -> None:
        counter = request.context.options.pop(COUNTER_OPTION, None)
        if counter is not None:  # first attempt: keep it in the context for the retries
            request.context[COUNTER_OPTION] = counter
        if self.gate is not None:
            self.gate.wait()
        counter = request.context.get(COUNTER_OPTION)
        if counter is not None:
            counter()

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:
        headers = response.http_response.headers
        if self.gate is not None:
            self.gate.update(headers)
        if str(headers.get(SUBSCRIPTION_LIMIT_HIT, "")).lower() == "true":
            log.warning("Resource Graph answered for only the first 10,000 subscriptions of the tenant: "
                        "list azure.subscriptions explicitly to see the rest")


# ---------------------------------------------------------------------------------------------------------
# Errors


class ResultTruncatedError(Exception):
    """Resource Graph said resultTruncated=true without a $skipToken: the rows are incomplete."""


_STATUS_CLASSES = {400: ("BadRequest", False), 401: ("AccessDenied", False), 403: ("AccessDenied", False),
                   404: ("NotFound", False), 408: ("Timeout", True), 429: ("Throttled", True)}


@register_classifier
def classify_azure(exc: BaseException) -> ErrorInfo | None:
    if isinstance(exc, ResultTruncatedError):
        return ErrorInfo("ResultTruncated", False)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        if status is None:  # no HTTP answer: the credential itself could not get a token
            if isinstance(exc, ClientAuthenticationError):
                return ErrorInfo("AuthenticationFailed", False)
            return None
        if status in _STATUS_CLASSES:
            return ErrorInfo(*_STATUS_CLASSES[status])
        if status >= 500:
            return ErrorInfo("ServerError", True)
        return ErrorInfo(f"HttpError{status}", False)
    if isinstance(exc, ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return ErrorInfo("Timeout", True)
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return ErrorInfo("ConnectionError", True)
    return None
