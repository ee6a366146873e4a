"""GCP connector: Cloud Asset Inventory ``ListAssets`` for Compute instances and their OS inventories.

One job per configured scope (``projects/ID``, ``folders/N`` or ``organizations/N``; the scope string is the
job's label and the ``parent`` of the calls). Each job reads two datasets, one ``ListAssets`` call sequence
each, because ``contentType`` is a single value per call:

* ``gcp__compute_instances``: ``assetTypes=compute.googleapis.com/Instance``, ``contentType=RESOURCE``
* ``gcp__os_inventories``: the same with ``contentType=OS_INVENTORY``

Pages are streamed one at a time into the landing (``pager.pages``). The assets are the camelCase JSON
the REST API sent, which is what the extractors in ``flows.records.gcp`` read and what lands in
``raw_json``: a ``requests`` response hook on the transport's session (``RawAssetPages``) takes them from
each successful page before the SDK parses it, and leaves the SDK only the page token. The SDK still
builds and signs the requests, retries, raises failed answers and drives the paging; what it no longer
does is turn every asset into protobuf in pure Python (``json_format``), which was most of the
connector's CPU and would then have had to be turned back into JSON.

Retries happen at two levels. Inside one page request, google-api-core retries 429, 500, 502, 503, 504 and
request timeouts with exponential backoff and full jitter until ``ApiRetry.deadline_seconds`` (its default
retry would only cover 503 and 504, not 429); a ``Retry-After`` header is honoured up to
``ApiRetry.maximum_seconds``. If a page still fails, ``base.extract_dataset`` restarts the dataset from the
first page if the error class is transient. Every HTTP attempt is counted (a REST interceptor), so
``extract_runs.requests`` minus ``pages`` is the number of retried requests.

Credentials: Application Default Credentials with the ``cloud-platform`` scope (a service account key,
workload identity, the metadata server or ``gcloud auth application-default login``). The one exception
is an ``api_endpoint`` that is a loopback ``http://`` address (``localhost``, ``127.0.0.0/8``, ``::1``),
i.e. a local test server: it gets ``AnonymousCredentials``, so no token is ever sent over plain HTTP. Any
other ``http://`` endpoint is refused (``InsecureEndpointError``) because it would send bearer tokens in
the clear. ``https://`` and bare-host endpoints (Private Service Connect, a proxy) use ADC.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import google.auth
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth import exceptions as aexc
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import asset_v1
from google.cloud.asset_v1.services.asset_service.transports.rest import (
    AssetServiceRestInterceptor,
    AssetServiceRestTransport,
)
from requests import Response
from requests import exceptions as rexc

from flows.lake.writer import ExtractOutcome, Landing
from flows.settings import GcpSettings, Settings
from flows.sources.base import (
    ErrorInfo,
    Page,
    RequestCounter,
    RetryPolicy,
    ScopeJob,
    extract_dataset,
    register_classifier,
)
from flows.sources.redact import redact

log = logging.getLogger(__name__)

CLOUD = "gcp"
SOURCE = "gcp"
INSTANCE_ASSET_TYPE = "compute.googleapis.com/Instance"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# dataset -> ListAssets contentType (the enum's name in google.cloud.asset_v1.ContentType)
DATASET_CONTENT_TYPES = {
    "gcp__compute_instances": "RESOURCE",
    "gcp__os_inventories": "OS_INVENTORY",
}


class InsecureEndpointError(ValueError):
    """``gcp.api_endpoint`` is plain ``http://`` on a non-loopback host: credentials would travel in clear."""


@dataclass(frozen=True)
class ApiRetry:
    """google-api-core's retry of one ``ListAssets`` page request (inside ``RetryPolicy``'s dataset retries).

    Cloud Asset quotas are per minute, so the deadline spans two quota windows before giving up.
    """

    initial_seconds: float = 1.0  # first backoff ceiling; each wait is uniform(0, ceiling) (full jitter)
    maximum_seconds: float = 32.0  # ceiling of one wait, and of an honoured Retry-After
    multiplier: float = 2.0
    deadline_seconds: float = 120.0  # total time retrying one page request (two quota minutes)
    timeout_seconds: float = 120.0  # api-core's timeout= of one page request: an attempt gets what is left


DEFAULT_API_RETRY = ApiRetry()


# -- planning ------------------------------------------------------------------------------------------------


def plan_jobs(settings: Settings) -> list[ScopeJob]:
    """One job per configured scope, labelled with the scope string itself (the ``parent`` of the calls).

    Raises ``InsecureEndpointError`` for a non-loopback ``http://`` endpoint, before any work is planned.
    """
    gcp = _gcp_settings(settings)
    endpoint_is_anonymous(gcp.api_endpoint)  # validates
    seen: set[str] = set()
    jobs = []
    for scope in gcp.scopes:
        if scope not in seen:
            seen.add(scope)
            jobs.append(ScopeJob(cloud=CLOUD, scope=scope))
    return jobs


# -- extraction ----------------------------------------------------------------------------------------------


def extract_job(job: ScopeJob, landing: Landing, settings: Settings, retry: RetryPolicy | None = None, *,
                api_retry: ApiRetry | None = None) -> list[ExtractOutcome]:
    """Read one scope's two datasets into ``landing``; API failures come back as failed outcomes.

    The client is created lazily inside the first dataset's pages, so an ADC problem (no credentials,
    a refresh failure) is recorded as a failed outcome like any API error. A non-loopback ``http://``
    endpoint raises ``InsecureEndpointError`` before anything is sent.
    """
    gcp = _gcp_settings(settings)
    endpoint_is_anonymous(gcp.api_endpoint)  # validates before any network activity
    api_retry = api_retry or DEFAULT_API_RETRY
    session = _ClientSession(gcp)
    outcomes = []
    try:
        for dataset, content_type in DATASET_CONTENT_TYPES.items():
            counter = RequestCounter()
            pages = functools.partial(_asset_pages, session, job.scope, content_type, gcp.page_size,
                                      api_retry, counter)
            outcomes.append(extract_dataset(landing, job, dataset, pages, source=SOURCE, requests=counter,
                                            retry=retry))
    finally:
        session.close()
    return outcomes


def _asset_pages(session: _ClientSession, scope: str, content_type: str, page_size: int, api_retry: ApiRetry,
                 counter: RequestCounter) -> Iterator[Page]:
    """Stream ``ListAssets`` pages as ``(records, {})``; the first request is sent on the first ``next()``."""
    client = session.client(counter)
    request = asset_v1.ListAssetsRequest(parent=scope, asset_types=[INSTANCE_ASSET_TYPE],
                                         content_type=asset_v1.ContentType[content_type], page_size=page_size)
    pager = client.list_assets(request=request, retry=_api_core_retry(api_retry, scope, content_type),
                               timeout=api_retry.timeout_seconds)
    for _page in pager.pages:
        yield session.raw_pages.take(), {}


class _ClientSession:
    """One ``AssetServiceClient`` per job, created on first use; its REST interceptor counts every HTTP
    attempt into the counter of the dataset being read, and ``raw_pages`` keeps each page's assets."""

    def __init__(self, gcp: GcpSettings):
        self.gcp = gcp
        self._client: asset_v1.AssetServiceClient | None = None
        self._interceptor = _CountingInterceptor()
        self.raw_pages = RawAssetPages()

    def client(self, counter: RequestCounter) -> asset_v1.AssetServiceClient:
        if self._client is None:
            self._client = _make_client(self.gcp, self._interceptor)
            # The REST transport's requests session (google-auth's AuthorizedSession) sends every attempt.
            self._client.transport._session.hooks["response"].append(self.raw_pages)
        self._interceptor.counter = counter
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.transport.close()
            self._client = None


class _CountingInterceptor(AssetServiceRestInterceptor):
    """Called by the REST transport before every HTTP attempt of ListAssets, api-core retries included."""

    def __init__(self) -> None:
        self.counter = RequestCounter()

    def pre_list_assets(self, request: Any, metadata: Any) -> Any:
        self.counter()
        return request, metadata


def _make_client(gcp: GcpSettings, interceptor: AssetServiceRestInterceptor) -> asset_v1.AssetServiceClient:
    # The REST transport (what transport="rest" selects), built by the client through a callable so that
    # it carries the interceptor; credentials and client_options are still handled by the client.
    transport = functools.partial(AssetServiceRestTransport, interceptor=interceptor)
    client_options = ClientOptions(api_endpoint=gcp.api_endpoint) if gcp.api_endpoint else None
    client = asset_v1.AssetServiceClient(credentials=credentials_for(gcp.api_endpoint), transport=transport,
                                         client_options=client_options)
    return client


def credentials_for(api_endpoint: str | None) -> Credentials:
    """``AnonymousCredentials`` for a loopback ``http://`` test server, else Application Default
    Credentials with the ``cloud-platform`` scope."""
    if endpoint_is_anonymous(api_endpoint):
        return AnonymousCredentials()
    credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    return credentials


def endpoint_is_anonymous(api_endpoint: str | None) -> bool:
    """True for a loopback ``http://`` endpoint; raises ``InsecureEndpointError`` for any other ``http://``."""
    if not api_endpoint or not api_endpoint.lower().startswith("http://"):
        return False
    host = urlsplit(api_endpoint).hostname or ""
    if host == "localhost" or _is_loopback_ip(host):
        return True
    raise InsecureEndpointError(
        f"gcp.api_endpoint {api_endpoint!r} is plain http:// on a non-loopback host: credentials would be "
        "sent unencrypted. Use https://, or http:// only on localhost / 127.0.0.1 / ::1 (a local test "
        "server, reached without credentials).")


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _gcp_settings(settings: Settings) -> GcpSettings:
    if settings.gcp is None:
        raise ValueError("the [gcp] section is absent from the config")
    return settings.gcp


# -- retries -------------------------------------------------------------------------------------------------


# What api-core retries inside one page request. Its default for ListAssets is only 503 and 504
# (DeadlineExceeded is a GatewayTimeout); a requests timeout or dropped connection is not an api-core
# exception at all over REST, so it is listed too.
RETRYABLE = (gexc.TooManyRequests, gexc.InternalServerError, gexc.BadGateway, gexc.ServiceUnavailable,
             gexc.GatewayTimeout, rexc.Timeout, rexc.ConnectionError)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE)


def _api_core_retry(api_retry: ApiRetry, scope: str, content_type: str) -> Retry:
    on_error = functools.partial(_on_retryable_error, api_retry.maximum_seconds, scope, content_type)
    return Retry(predicate=_retryable, initial=api_retry.initial_seconds, maximum=api_retry.maximum_seconds,
                 multiplier=api_retry.multiplier, timeout=api_retry.deadline_seconds, on_error=on_error)


def _on_retryable_error(max_wait: float, scope: str, content_type: str, exc: BaseException) -> None:
    """Log the retried error and honour ``Retry-After`` (capped) before api-core's own jittered backoff."""
    wait = min(retry_after_seconds(exc) or 0.0, max_wait)
    log.info("ListAssets %s %s: %s, retrying%s", scope, content_type, redact(_short(exc)),
             f" after Retry-After {wait:g}s" if wait else "")
    if wait > 0:
        time.sleep(wait)


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds from an HTTP error's ``Retry-After`` header (delta-seconds or HTTP-date), if any."""
    response = getattr(exc, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


# -- error classes -------------------------------------------------------------------------------------------


@register_classifier
def classify_gcp_error(exc: BaseException) -> ErrorInfo | None:
    """How google-api-core, google-auth and requests exceptions map to ``extract_runs.error_class``.

    Over REST, api-core raises the HTTP-status classes (403 -> ``Forbidden``, 401 -> ``Unauthorized``,
    429 -> ``TooManyRequests``); the gRPC-code subclasses (``PermissionDenied``...) are covered by them.
    """
    if isinstance(exc, InsecureEndpointError):
        return ErrorInfo("ConfigError", False)
    if isinstance(exc, NotAPageError):
        return ErrorInfo("BadResponse", True)
    if isinstance(exc, gexc.Forbidden | gexc.Unauthorized):  # PermissionDenied, Unauthenticated
        return ErrorInfo("AccessDenied", False)
    if isinstance(exc, gexc.NotFound):
        return ErrorInfo("NotFound", False)
    if isinstance(exc, gexc.BadRequest):  # InvalidArgument
        return ErrorInfo("BadRequest", False)
    if isinstance(exc, gexc.TooManyRequests):  # ResourceExhausted
        return ErrorInfo("Throttled", True)
    if isinstance(exc, gexc.DeadlineExceeded | gexc.RetryError | rexc.Timeout):
        return ErrorInfo("Timeout", True)
    if isinstance(exc, gexc.ServiceUnavailable | gexc.InternalServerError | gexc.BadGateway
                  | gexc.GatewayTimeout):
        return ErrorInfo("ServerError", True)
    if isinstance(exc, rexc.ConnectionError | aexc.TransportError):
        return ErrorInfo("ConnectionError", True)
    if isinstance(exc, aexc.DefaultCredentialsError):
        return ErrorInfo("CredentialsError", False)
    if isinstance(exc, aexc.RefreshError):
        return ErrorInfo("CredentialsError", bool(getattr(exc, "retryable", False)))
    return None


# -- the REST JSON of each page -------------------------------------------------------------------------------


def _enum_names(field: Any) -> dict[int, str]:
    return {value.number: value.name for value in field.enum_type.values}


# The only enums inside a Compute instance's RESOURCE or OS_INVENTORY asset: osconfig.v1.Inventory.Item's.
# The transport asks for them as numbers (``$alt=json;enum-encoding=int``); they land as names, as in the
# API reference and the rest of the lake.
_INVENTORY_ITEM = asset_v1.Asset.pb().DESCRIPTOR.fields_by_name["os_inventory"].message_type \
    .nested_types_by_name["Item"]
ITEM_ENUMS = {field.json_name: _enum_names(field) for field in _INVENTORY_ITEM.fields if field.enum_type}


class NotAPageError(ValueError):
    """A 2xx ``ListAssets`` answer that is not a page of assets: a proxy's or captive portal's HTML, say."""


class RawAssetPages:
    """A ``requests`` response hook that keeps the assets of each successful ``ListAssets`` answer, as the
    JSON the API sent, and hands the SDK a body with the page token alone.

    Anything but a 2xx answer passes untouched, so the SDK raises and retries failures as it always does. A
    2xx body that is not a JSON object with an ``assets`` list raises ``NotAPageError`` (the dataset fails,
    ``BadResponse``, retried from its first page like other transient errors); one malformed *asset* is
    left for the record extractor, which rejects that record alone.
    """

    def __init__(self) -> None:
        self._assets: list[Any] | None = None

    def __call__(self, response: Response, *args: Any, **kwargs: Any) -> Response | None:
        if not 200 <= response.status_code < 300:
            return None
        kind = response.headers.get("Content-Type", "no content type")
        try:
            page = json.loads(response.content)
        except ValueError as exc:
            raise NotAPageError(f"ListAssets answered {response.status_code} with a body that is not JSON "
                                f"({kind}): {exc}") from None
        if not isinstance(page, dict) or not isinstance(page.get("assets", []), list):
            raise NotAPageError(f"ListAssets answered {response.status_code} with JSON that is not a page of "
                                f"assets ({kind})")
        self._assets = [named_enums(asset) for asset in page.get("assets", [])]
        token = page.get("nextPageToken")
        response._content = json.dumps({"nextPageToken": token} if token else {}).encode()
        return response

    def take(self) -> list[Any]:
        """The assets of the page the SDK has just returned (each page is taken once)."""
        if self._assets is None:
            raise RuntimeError("the SDK returned a ListAssets page that the response hook did not see")
        assets, self._assets = self._assets, None
        return assets


def named_enums(asset: Any) -> Any:
    """An asset with its inventory items' ``type`` and ``originType`` numbers turned into enum names (a
    number the SDK does not know stays a number); any other shape is returned as it is."""
    inventory = asset.get("osInventory") if isinstance(asset, dict) else None
    items = inventory.get("items") if isinstance(inventory, dict) else None
    if isinstance(items, dict):
        for item in items.values():
            if isinstance(item, dict):
                for key, names in ITEM_ENUMS.items():
                    value = item.get(key)
                    if type(value) is int and value in names:
                        item[key] = names[value]
    return asset


__all__ = ["plan_jobs", "extract_job", "ApiRetry", "InsecureEndpointError", "NotAPageError", "RawAssetPages",
           "named_enums", "classify_gcp_error", "credentials_for", "endpoint_is_anonymous", "retry_after_seconds"]
