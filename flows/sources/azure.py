"""Azure connector: Resource Graph (machines, extensions, Defender state) and Log Analytics Change Tracking.

Jobs (``plan_jobs``)
    * One Resource Graph job per chunk of ``azure.subscriptions_per_query`` subscriptions, labelled with
      the subscription id for a chunk of one, else ``"<first-sub>+<n-1>"``. With no subscriptions
      configured, one tenant-scope job labelled ``"*"`` (every subscription the credential can read).
      Subscription ids are lower-cased, as the extractors lower-case ``subscriptionId``: a failed scope
      then matches the machines' ``extract_scope`` in the SQL.
    * One Log Analytics job per workspace, labelled ``"workspace:<id>"``; with none configured, one job
      ``"workspace:none"`` that records ``azure__change_tracking`` as skipped, with the reason.

Resource Graph job (``POST /providers/Microsoft.ResourceGraph/resources``)
    1. A visibility probe (chunks only): ``resourcecontainers`` rows of type subscriptions, to learn which
       configured subscriptions the credential can actually read. Resource Graph may silently leave out a
       subscription it cannot read, and one unreadable subscription must not blind its whole chunk: if the
       probe is refused (403/401/404/400), the subscription named in the error is probed alone and the rest
       again (or, if none is named, the chunk is bisected) until the refused subscriptions are isolated.
       Unreadable subscriptions get one failed outcome per dataset (scope = that subscription) and are left
       out of the dataset queries. If the probe fails otherwise (5xx, throttling), the chunk is queried as is.
    2. One query per dataset (``QUERIES``) returning WHOLE rows filtered by type (flattening is the SQL's
       job), ordered by ``id`` so that ``$skipToken`` paging is deterministic, ``$top = page_size``,
       ``resultFormat = objectArray``. The SDK does not page: the loop follows ``$skipToken``.
       ``resultTruncated = "true"`` (a string) without a ``$skipToken`` fails the dataset (incomplete rows).
    3. A dataset that still fails after retries gets one failed outcome per subscription of the chunk
       (scope = that subscription id; the tenant job's scope stays ``"*"``), so the SQL marks exactly
       those machines ``unknown (source_failed)``. The request count stays on the first of these rows.

Log Analytics job (``POST {endpoint}/v1/workspaces/{id}/query``)
    The latest ``ConfigurationData`` row per (``_ResourceId``, ``ConfigDataType``, ``SoftwareName``,
    ``SvcName``) over ``change_tracking_days``. A query answers at most 500,000 rows / ~64 MB, so the job
    first counts the rows and then splits the workspace by ``hash(_ResourceId, n)`` into parts of at most
    ``TUNING.log_analytics_rows_per_query`` rows; each part is one page. A partial answer
    (``LogsQueryPartialResult``) lands what came and marks the outcome failed, error class
    ``PartialResult``, so that machines are not judged on incomplete data.

Throttling and retries: see ``flows.sources.azure_http``. Resource Graph allows a user about 15 queries per
5 s: every response's ``x-ms-user-quota-remaining`` / ``-resets-after`` headers are honoured before the next
query from any thread; azure-core's RetryPolicy honours ``Retry-After`` on 429 and retries 5xx and timeouts;
``base.extract_dataset`` then restarts a dataset that still failed transiently.

Requests per night, without retries: per chunk, one probe page per 1000 subscriptions plus, per dataset,
max(1, ceil(rows / page_size)); per workspace, 1 count + ceil(rows / rows_per_query). For example 10,000
Azure VMs (2 extensions each, one EDR assessment each) in up to 1000 subscriptions, default page size 1000:
1 probe + 10 VM + 1 Arc + 20 extension + 1 pricing + 1 connector + 10 assessment pages = 44 requests.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult

from flows.lake.writer import ExtractOutcome, Landing
from flows.settings import AzureSettings, Settings
from flows.sources import azure_http
from flows.sources.azure_http import (
    CallPolicy,
    ResultTruncatedError,
    call_kwargs,
    check_endpoint,
    client_kwargs,
    make_credential,
    quota_gate,
    scope_for,
)
from flows.sources.base import (
    Page,
    RequestCounter,
    RetryPolicy,
    ScopeJob,
    classify,
    extract_dataset,
    paged,
    skipped,
)
from flows.sources.redact import redact

log = logging.getLogger(__name__)

CLOUD = "azure"
SOURCE = "azure"
RESOURCE_GRAPH = "resource_graph"
LOG_ANALYTICS = "log_analytics"
CHANGE_TRACKING = "azure__change_tracking"
NO_WORKSPACE_SCOPE = "workspace:none"
NO_WORKSPACE_REASON = (
    "no Log Analytics workspace configured: third-party EDR on Azure machines cannot be seen")

# The six EDR recommendations of Defender for Cloud (sql/seeds/defender_assessments.csv; a test keeps the
# two in step). Only these assessments are read: a tenant holds millions of others.
EDR_ASSESSMENT_KEYS = (
    "06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c",
    "77d09952-2bc2-4495-8795-cc8391452f85",
    "68e595c1-a031-4354-b37c-4bdf679732f1",
    "dc5357d0-3858-4d17-a1a3-072840bff5be",
    "695abd03-82bd-4d7f-a94c-140e8a17666c",
    "f36a15fb-61a6-428c-b719-6319538ecfbc",
)


def _in_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


# dataset -> Resource Graph query. Security connectors are tracked ARM resources, found in ``resources``
# (Microsoft's own examples query them there); pricings and assessments live in ``securityresources``.
QUERIES: dict[str, str] = {
    "azure__virtual_machines": (
        "resources | where type =~ 'microsoft.compute/virtualmachines' | order by id asc"),
    "azure__arc_machines": "resources | where type =~ 'microsoft.hybridcompute/machines' | order by id asc",
    "azure__machine_extensions": (
        "resources | where type in~ ('microsoft.compute/virtualmachines/extensions', "
        "'microsoft.hybridcompute/machines/extensions') | order by id asc"),
    "azure__security_pricings": (
        "securityresources | where type =~ 'microsoft.security/pricings' | order by id asc"),
    "azure__security_connectors": (
        "resources | where type =~ 'microsoft.security/securityconnectors' | order by id asc"),
    "azure__security_assessments": (
        "securityresources | where type =~ 'microsoft.security/assessments' "
        f"| where name in~ ({_in_list(EDR_ASSESSMENT_KEYS)}) | order by id asc"),
}
VISIBILITY_QUERY = ("resourcecontainers | where type =~ 'microsoft.resources/subscriptions' "
                    "| project id, subscriptionId | order by id asc")
# Probe errors that belong to a subscription rather than to the (fixed, valid) query or the service: no
# access, an unknown subscription, or one that is not a subscription id at all (400).
PROBE_SPLIT_ERRORS = frozenset({"AccessDenied", "NotFound", "BadRequest"})
SUBSCRIPTION_IN_TEXT = re.compile(r"/subscriptions/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                                  r"[0-9a-fA-F]{12})")

CHANGE_TRACKING_TYPES = ("Software", "WindowsServices", "Daemons")
CHANGE_TRACKING_KEYS = ("_ResourceId", "ConfigDataType", "SoftwareName", "SvcName")
CHANGE_TRACKING_COLUMNS = ("_ResourceId", "Computer", "ConfigDataType", "SoftwareName", "SoftwareType",
                           "Publisher", "CurrentVersion", "SvcName", "SvcDisplayName", "SvcState",
                           "SvcStartupType", "TimeGenerated")


# -- planning ------------------------------------------------------------------------------------------------


def plan_jobs(settings: Settings) -> list[ScopeJob]:
    """Resource Graph jobs (subscription chunks, or the tenant) and one Log Analytics job per workspace.

    Raises ``ValueError`` for an endpoint the credential mode does not allow (anonymous off loopback,
    a real token over http).
    """
    azure = settings.azure
    if azure is None:
        return []
    _validate_endpoints(azure, graph=True, logs=bool(azure.workspaces))
    jobs: list[ScopeJob] = []
    subscriptions = _unique(sub.strip().lower() for sub in azure.subscriptions if sub.strip())
    if subscriptions:
        size = azure.subscriptions_per_query
        for start in range(0, len(subscriptions), size):
            chunk = subscriptions[start:start + size]
            jobs.append(ScopeJob(CLOUD, chunk_label(chunk), {"kind": RESOURCE_GRAPH, "subscriptions": chunk}))
    else:
        jobs.append(ScopeJob(CLOUD, "*", {"kind": RESOURCE_GRAPH, "subscriptions": []}))
    workspaces = _unique(ws.strip() for ws in azure.workspaces if ws.strip())
    for workspace in workspaces:
        params = {"kind": LOG_ANALYTICS, "workspace": workspace}
        jobs.append(ScopeJob(CLOUD, f"workspace:{workspace}", params))
    if not workspaces:
        jobs.append(ScopeJob(CLOUD, NO_WORKSPACE_SCOPE, {"kind": LOG_ANALYTICS, "workspace": None}))
    return jobs


def chunk_label(subscriptions: list[str]) -> str:
    if not subscriptions:
        return "*"
    if len(subscriptions) == 1:
        return subscriptions[0]
    return f"{subscriptions[0]}+{len(subscriptions) - 1}"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _validate_endpoints(azure: AzureSettings, *, graph: bool, logs: bool) -> None:
    anonymous = azure.credential == "anonymous"
    if graph:
        check_endpoint(azure.resource_manager_url, anonymous=anonymous, key="resource_manager_url")
    if logs:
        check_endpoint(azure.log_analytics_endpoint, anonymous=anonymous, key="log_analytics_endpoint")


def _azure(settings: Settings) -> AzureSettings:
    if settings.azure is None:
        raise ValueError("the config has no [azure] section")
    return settings.azure


# -- extraction ----------------------------------------------------------------------------------------------


def extract_job(job: ScopeJob, landing: Landing, settings: Settings,
                retry: RetryPolicy | None = None) -> list[ExtractOutcome]:
    """Read one job's datasets into ``landing``; API failures come back as failed outcomes, never raised.

    Raises ``ValueError`` only for a misconfiguration (see ``plan_jobs``), before anything is sent.
    """
    azure = _azure(settings)
    kind = job.params.get("kind")
    if kind == LOG_ANALYTICS and not job.params.get("workspace"):
        return [skipped(landing, job, CHANGE_TRACKING, SOURCE, NO_WORKSPACE_REASON)]
    if kind not in (RESOURCE_GRAPH, LOG_ANALYTICS):
        raise ValueError(f"not an Azure job: {job!r}")
    _validate_endpoints(azure, graph=kind == RESOURCE_GRAPH, logs=kind == LOG_ANALYTICS)
    anonymous = azure.credential == "anonymous"
    credential = make_credential(anonymous)
    try:
        if kind == RESOURCE_GRAPH:
            return _GraphJob(job, landing, azure, retry, credential, anonymous).run()
        return _extract_change_tracking(job, landing, azure, retry, credential, anonymous)
    finally:
        close = getattr(credential, "close", None)
        if close is not None:
            close()


# -- Resource Graph ------------------------------------------------------------------------------------------


class _Deferred:
    """A stand-in landing for ``extract_dataset``: files go to the real landing, the outcome is held back
    so that a chunk's failure can be recorded per subscription instead."""

    def __init__(self, landing: Landing):
        self.landing = landing
        self.outcomes: list[ExtractOutcome] = []

    def writer(self, dataset_name: str, scope: str, batch_rows: int = 5000) -> Any:
        return self.landing.writer(dataset_name, scope, batch_rows)

    def record(self, outcome: ExtractOutcome) -> None:
        self.outcomes.append(outcome)


@dataclass
class _Refusal:
    error_class: str
    message: str


class _GraphJob:
    def __init__(self, job: ScopeJob, landing: Landing, azure: AzureSettings, retry: RetryPolicy | None,
                 credential: Any, anonymous: bool):
        self.job, self.landing, self.azure, self.retry = job, landing, azure, retry
        self.anonymous = anonymous
        self.subscriptions: list[str] = list(job.params.get("subscriptions") or [])
        self.client = ResourceGraphClient(
            credential, base_url=azure.resource_manager_url,
            credential_scopes=[scope_for(azure.resource_manager_url)],
            per_retry_policies=[CallPolicy(quota_gate(azure.resource_manager_url))],
            **client_kwargs())
        self.outcomes: list[ExtractOutcome] = []

    def run(self) -> list[ExtractOutcome]:
        try:
            counters = {dataset: RequestCounter() for dataset in QUERIES}
            readable, refused = self._probe(counters[next(iter(QUERIES))])
            for dataset, query in QUERIES.items():
                started = datetime.now(UTC)
                queried = bool(readable or not self.subscriptions)
                if queried:
                    self._extract(dataset, query, readable, counters[dataset])
                for index, (subscription, refusal) in enumerate(refused.items()):
                    # the probe's requests are on the first dataset's outcome, or here if it was not queried
                    requests = counters[dataset].count if index == 0 and not queried else 0
                    self._record(ExtractOutcome(
                        source=SOURCE, cloud=CLOUD, scope=subscription, dataset=dataset, status="failed",
                        requests=requests, started_at=started, error_class=refusal.error_class,
                        error_message=refusal.message))
        finally:
            self.client.close()
        return self.outcomes

    def _record(self, outcome: ExtractOutcome) -> None:
        self.landing.record(outcome)
        self.outcomes.append(outcome)

    # one dataset over the readable subscriptions of the chunk
    def _extract(self, dataset: str, query: str, subscriptions: list[str], counter: RequestCounter) -> None:
        deferred = _Deferred(self.landing)
        pages = self._pages_factory(query, subscriptions, counter)
        outcome = extract_dataset(deferred, self.job, dataset, pages, source=SOURCE,  # type: ignore[arg-type]
                                  requests=counter, retry=self.retry)
        if outcome.status == "ok" or not self.subscriptions:
            self._record(outcome)
            return
        for index, subscription in enumerate(subscriptions):
            self._record(dataclasses.replace(outcome, scope=subscription,
                                             requests=outcome.requests if index == 0 else 0))

    def _pages_factory(self, query: str, subscriptions: list[str],
                       counter: RequestCounter) -> Callable[[], Iterator[Page]]:
        def pages() -> Iterator[Page]:
            return paged(lambda token: self._query(query, subscriptions, token, counter))
        return pages

    def _query(self, query: str, subscriptions: list[str], skip_token: str | None,
               counter: RequestCounter) -> tuple[list[dict[str, Any]], str | None]:
        request = QueryRequest(
            subscriptions=subscriptions or None, query=query,
            options=QueryRequestOptions(top=self.azure.page_size, skip_token=skip_token,
                                        result_format="objectArray"))
        response = self.client.resources(request, **call_kwargs(counter, anonymous=self.anonymous))
        token = response.skip_token or None
        if str(response.result_truncated).lower() == "true" and not token:
            raise ResultTruncatedError(
                f"Resource Graph truncated the result of {query.split('|')[0].strip()} "
                f"({response.count} of {response.total_records} rows) without a $skipToken")
        data = response.data
        if not isinstance(data, list):
            raise TypeError(f"Resource Graph data is {type(data).__name__}, expected an objectArray list")
        return data, token

    # which subscriptions of the chunk the credential can read
    def _probe(self, counter: RequestCounter) -> tuple[list[str], dict[str, _Refusal]]:
        if not self.subscriptions:
            return [], {}
        refused: dict[str, _Refusal] = {}
        visible: set[str] = set()
        self._probe_chunk(self.subscriptions, counter, visible, refused)
        readable = [sub for sub in self.subscriptions if sub in visible]
        for sub in self.subscriptions:
            if sub not in visible and sub not in refused:
                refused[sub] = _Refusal(
                    "SubscriptionNotVisible",
                    f"subscription {sub} is not visible to Resource Graph with this credential "
                    "(no read access, another tenant, or not a subscription id)")
        if refused:
            log.warning("azure %s: %d of %d subscriptions cannot be read: %s", self.job.scope, len(refused),
                        len(self.subscriptions), ", ".join(sorted(refused)))
        return readable, refused

    def _probe_chunk(self, chunk: list[str], counter: RequestCounter, visible: set[str],
                     refused: dict[str, _Refusal]) -> None:
        try:
            for rows, _ in paged(lambda token: self._query(VISIBILITY_QUERY, chunk, token, counter)):
                visible.update(str(row.get("subscriptionId", "")).lower() for row in rows)
        except Exception as exc:  # noqa: BLE001 - classified below; the datasets report real failures
            info = classify(exc)
            if info.error_class not in PROBE_SPLIT_ERRORS:
                log.warning("azure %s: visibility probe failed (%s); querying the chunk as is",
                            chunk_label(chunk), info.error_class)
                visible.update(chunk)
                return
            if len(chunk) == 1:
                refused[chunk[0]] = _Refusal(info.error_class, redact(str(exc)) or info.error_class)
                return
            # ARM's AuthorizationFailed names the scope ("... over scope '/subscriptions/<id>'"): try the
            # named subscriptions alone, then the rest together; else bisect.
            named = {match.lower() for match in SUBSCRIPTION_IN_TEXT.findall(str(exc))}
            suspects = [sub for sub in chunk if sub in named]
            if suspects:
                rest = [sub for sub in chunk if sub not in named]
                for suspect in suspects:
                    self._probe_chunk([suspect], counter, visible, refused)
                if rest:
                    self._probe_chunk(rest, counter, visible, refused)
                return
            half = len(chunk) // 2
            self._probe_chunk(chunk[:half], counter, visible, refused)
            self._probe_chunk(chunk[half:], counter, visible, refused)


# -- Log Analytics -------------------------------------------------------------------------------------------


def change_tracking_query(days: int, part: int | None = None, parts: int = 1, *, count: bool = False) -> str:
    """KQL for the latest ConfigurationData row per key; ``part`` of ``parts`` splits by ``_ResourceId``."""
    lines = [
        "ConfigurationData",
        f"| where TimeGenerated > ago({days}d)",
        f"| where ConfigDataType in ({_in_list(CHANGE_TRACKING_TYPES)})",
        "| where isnotempty(_ResourceId)",
    ]
    if part is not None and parts > 1:
        lines.append(f"| where hash(_ResourceId, {parts}) == {part}")
    lines.append(f"| summarize arg_max(TimeGenerated, *) by {', '.join(CHANGE_TRACKING_KEYS)}")
    if count:
        lines.append("| count")
    else:
        lines.append(f"| project {', '.join(CHANGE_TRACKING_COLUMNS)}")
        lines.append(f"| order by {', '.join(f'{key} asc' for key in CHANGE_TRACKING_KEYS)}")
    return "\n".join(lines)


class RawTables:
    """``cls`` for ``query_workspace(stream=True, cls=...)``: keeps the answer's tables as parsed JSON and
    hands the SDK the answer without them, so that it still tells a partial result (the answer's ``error``)
    from a complete one and raises failed answers as usual, but builds no row objects.

    Without these two (documented, generated-client) keywords the SDK turns every cell into its generic model
    objects, then into ``LogsTable`` rows, parsing every datetime cell with ``isodate``: half of the Azure
    connector's CPU (py-spy, 2,000 machines), for values that were then turned back into ISO strings.
    ``json_table_rows`` gives the same values straight from the JSON."""

    def __init__(self) -> None:
        self.tables: list[dict[str, Any]] = []

    def __call__(self, pipeline_response: Any, body: Iterable[bytes], headers: Any) -> dict[str, Any]:
        answer = json.loads(b"".join(body))
        self.tables = answer.get("tables") or []
        return {"tables": [], **({"error": answer["error"]} if answer.get("error") else {})}


def _json_cell(column_type: str, value: Any) -> Any:
    """A cell as the SDK's ``LogsTable`` would give it, datetimes as ISO strings (UTC offset explicit)."""
    if column_type == "datetime" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)  # 'Z' and 7-digit fractions (truncated) included
        except ValueError:
            return value  # as the SDK: a value it cannot parse is handed on as it came
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()
    if column_type in ("timespan", "guid"):
        return str(value)
    return value


def json_table_rows(tables: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The query API's JSON tables -> dicts keyed by column name, one at a time, consuming the tables.

    Each raw row is released as soon as its dict is made, so that an answer of 50,000 rows is not held twice
    (parsed JSON and dicts) while it is written: together ~140 MB per workspace read at 100,000 machines
    (tracemalloc), the largest part of the extraction's peak."""
    for table in tables:
        columns = [(column["name"], column.get("type", "")) for column in table.get("columns") or []]
        rows = table.get("rows") or []
        for index, row in enumerate(rows):
            rows[index] = None
            yield {name: _json_cell(kind, value) for (name, kind), value in zip(columns, row, strict=False)}


def partial_error_text(error: Any) -> str:
    """``code: message`` of a partial result's error, with the messages of its nested details (the reason,
    e.g. ``E_QUERY_RESULT_SET_TOO_LARGE``, is usually only in ``details[].innererror``)."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):  # the SDK's models are Mappings, not dicts
            message = node.get("message")
            if message and message not in texts:
                texts.append(str(message))
            for child in node.get("details") or []:
                walk(child)
            walk(node.get("innererror"))

    code = getattr(error, "code", None) or "PartialError"
    message = getattr(error, "message", None)
    if message:
        texts.append(str(message))
    for detail in getattr(error, "details", None) or []:
        walk(detail)
    return f"{code}: {' / '.join(texts)}"


def _extract_change_tracking(job: ScopeJob, landing: Landing, azure: AzureSettings, retry: RetryPolicy | None,
                             credential: Any, anonymous: bool) -> list[ExtractOutcome]:
    workspace = job.params["workspace"]
    counter = RequestCounter()
    client = LogsQueryClient(credential, endpoint=azure.log_analytics_endpoint,
                             per_retry_policies=[CallPolicy()], **client_kwargs())
    days = azure.change_tracking_days
    partial_errors: list[str] = []

    def query(kql: str) -> Iterator[dict[str, Any]]:
        raw = RawTables()
        result = client.query_workspace(
            workspace, kql, timespan=timedelta(days=days),
            server_timeout=azure_http.TUNING.log_analytics_server_timeout, stream=True, cls=raw,
            **call_kwargs(counter, anonymous=anonymous,
                          read_timeout=azure_http.TUNING.log_analytics_read_timeout))
        if isinstance(result, LogsQueryPartialResult):
            partial_errors.append(partial_error_text(result.partial_error))
        return json_table_rows(raw.tables)

    def pages() -> Iterator[Page]:
        partial_errors.clear()  # a fresh attempt
        counted = next(query(change_tracking_query(days, count=True)), None)
        total = int(next(iter(counted.values()))) if counted else 0
        parts = max(1, math.ceil(total / max(1, azure_http.TUNING.log_analytics_rows_per_query)))
        if parts > 1:
            log.info("workspace %s: %d ConfigurationData rows, read in %d parts", workspace, total, parts)
        for part in range(parts):
            yield query(change_tracking_query(days, part, parts)), {}

    try:
        outcome = extract_dataset(landing, job, CHANGE_TRACKING, pages, source=SOURCE, requests=counter,
                                  retry=retry)
    finally:
        client.close()
    if outcome.status == "ok" and partial_errors:
        # The rows that came are landed (and counted); the failed status keeps the SQL from judging
        # machines on them. ``outcome`` is the object already recorded in the landing.
        outcome.status = "failed"
        outcome.error_class = "PartialResult"
        outcome.error_message = redact(
            "Log Analytics returned a partial result: " + "; ".join(partial_errors))
        log.error("%s %s: %s", CHANGE_TRACKING, job.scope, outcome.error_message)
    return [outcome]

