"""AWS connector: EC2 instances and SSM managed-instance information and inventory, per account and region.

Shape (Cartography style): ``plan_jobs`` lists (account, region) scopes; ``extract_job`` runs, per dataset,
get (a lazy generator of API pages) -> to rows (``flows.records.aws``, via the dataset registry) -> write
(``base.extract_dataset`` streams the pages into the landing). Read-only: besides STS (AssumeRole,
GetCallerIdentity), only Describe/List calls are made.

Credentials. Each account is read through ``sts:AssumeRole`` into ``<role_name>`` (session name ``edrcov``,
ExternalId if configured); ``role_name = None`` reads with the caller's own credentials. Jobs carry only
account, region and role ARN: the role is assumed inside ``extract_job`` (a worker may be another process),
once per job, lazily and refreshably, so a crawl longer than the one-hour session does not die with
ExpiredToken. An account whose role cannot be assumed at planning time becomes one ``<account>/*`` job
whose datasets are all recorded as failed with the planning error (the SQL reads ``*`` as every region).

Inventory API: ``ssm:ListInventoryEntries``, one call per (managed instance, type) page of <= 50 entries,
and not ``ssm:GetInventory``. GetInventory would be far cheaper if it could return software: it pages over
all instances at up to 50 entities a call, so 10,000 instances would cost 10,000 / 50 = 200 calls per
type, 400 for both. But its ``ResultAttributes`` accept only ``AWS:InstanceInformation`` and
``AWS:PatchSummary`` (the service answers ``InvalidResultAttributeException: Result type name
AWS:Application is not supported``; the botocore model says the same), so it cannot list applications or
services at all. ListInventoryEntries at 10,000 instances (8,000 Linux with ~400 packages = 8 pages;
2,000 Windows with ~400 applications = 8 pages and ~250 services = 5 pages):
    DescribeInstanceInformation  10,000 / 50, once (its list also says whose inventory to read) =    200
    AWS:Application              10,000 x 8                                                     = 80,000
    AWS:Service                  2,000 x 5 (Windows only; Linux would add 8,000 empty answers)  = 10,000
    -> ~90,200 SSM calls per account-region, plus ~10 DescribeInstances calls (1,000 a page).
In general, for M managed instances: ceil(M/50) + sum over instances and inventory types of
max(1, ceil(entries/50)). Hence ``AWS:Service`` is asked only of instances whose ``PlatformType`` is not
Linux/MacOS (SSM collects it on Windows alone); the clients use botocore's adaptive retry mode
(client-side rate limiting once throttled). Far beyond this, SSM Resource Data Sync to S3 is the scalable
path. ``CaptureTime`` is kept per instance page, for staleness.

Inventory shards. ~90,000 calls one after another take hours, and would keep one worker busy while the
others idle. So the account-region job lists the managed instances once, landing instance information
and keeping each id and platform (a few dozen bytes an instance, not the pages); up to
``[aws] inventory_shard_size`` instances it then reads their inventory itself, above that it hands back
inventory shard jobs: contiguous batches of the list, smaller towards its end (``inventory_shards``), at
most ``inventory_max_shards`` of them (each of which may call this region's SSM at the same time as the
others: its rate limits are per account and region), which the flow submits to its task runner like any
other job, the largest first. A shard keeps the scope
(``<account>/<region>``), so its ``extract_runs`` rows count towards the scope and a failed shard fails
the scope: its machines can only be ``unknown``, never ``not_installed``; its failure message starts with
its part (``inventory 2/5: ...``). A shard assumes the role once for itself; its datasets are retried on
their own, so a throttled shard repeats only its own instances. If the listing itself fails, both
inventory datasets are recorded failed without a call.

Landing pages: the extractors take one context per page, so an EC2 landing page is one reservation (its
OwnerId and ReservationId are the context) and an inventory landing page is one ListInventoryEntries
response (its InstanceId and CaptureTime). ``pages`` in ``extract_runs`` counts those; ``requests`` counts
every HTTP request (retries included) through a botocore ``before-send`` hook.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import cache, partial
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import botocore.utils
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from flows.lake.writer import ExtractOutcome, Landing
from flows.settings import AwsSettings, Settings
from flows.sources.base import (
    ErrorInfo,
    JobResult,
    Page,
    RequestCounter,
    RetryPolicy,
    ScopeJob,
    classify,
    extract_dataset,
    failed,
    register_classifier,
)
from flows.sources.redact import redact

log = logging.getLogger(__name__)

# quiet botocore: a failed AssumeRole refresh is logged by botocore with a traceback that names the caller's
# access key id; edrcov already records the failure (redacted), so keep botocore's copy out of the logs.
if logging.getLogger("botocore.credentials").level == logging.NOTSET:
    logging.getLogger("botocore.credentials").setLevel(logging.ERROR)

SOURCE = CLOUD = "aws"
SESSION_NAME = "edrcov"
DEFAULT_REGION = "us-east-1"  # for global calls (STS, Organizations, DescribeRegions) when none is configured
EC2_PAGE_SIZE = 1000  # DescribeInstances MaxResults (5-1000)
SSM_PAGE_SIZE = 50  # DescribeInstanceInformation (5-50) and ListInventoryEntries (1-50) MaxResults
ORG_PAGE_SIZE = 20  # ListAccounts MaxResults (1-20)
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60
APPLICATION, SERVICE = "AWS:Application", "AWS:Service"
NO_SERVICE_INVENTORY = ("Linux", "MacOS")  # SSM collects AWS:Service (Windows services) on Windows only
SHARD_INSTANCES = "inventory_instances"  # job parameter of an inventory shard: the instances it reads

Instance = tuple[str, str | None]  # a managed instance's InstanceId and PlatformType

_API_ERRORS = (ClientError, BotoCoreError)


# ---------------------------------------------------------------------------------------------- planning

def plan_jobs(settings: Settings) -> list[ScopeJob]:
    """One job per (account, region); an account whose role cannot be assumed gets one failed ``*`` job."""
    aws = settings.aws
    if aws is None:
        log.info("AWS skipped: no [aws] section in the config")
        return []
    base = _new_session(DEFAULT_REGION)
    regions = list(aws.regions)
    jobs: list[ScopeJob] = []
    for account in _accounts(base, aws):
        role_arn = _role_arn(account, aws)
        try:
            session = _account_session(role_arn, aws, DEFAULT_REGION)  # fails here if the role is denied
            regions = regions or _enabled_regions(session, aws)
        except _API_ERRORS as exc:
            jobs.append(_failed_account_job(account, role_arn, exc))
            continue
        jobs += [_job(account, region, role_arn) for region in regions]
    return jobs


def _accounts(base: boto3.Session, aws: AwsSettings) -> list[str]:
    """Configured accounts; or every ACTIVE account of the organization; or else the caller's own."""
    if aws.accounts:
        return list(aws.accounts)
    if aws.organization:
        org = _client(base, "organizations", DEFAULT_REGION, aws)
        pages = org.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": ORG_PAGE_SIZE})
        return [acct["Id"] for page in pages for acct in page["Accounts"] if acct["Status"] == "ACTIVE"]
    return [_client(base, "sts", DEFAULT_REGION, aws).get_caller_identity()["Account"]]


def _enabled_regions(session: boto3.Session, aws: AwsSettings) -> list[str]:
    """Regions enabled for the account (DescribeRegions omits opted-out ones); asked of the first account."""
    ec2 = _client(session, "ec2", DEFAULT_REGION, aws)
    return sorted(region["RegionName"] for region in ec2.describe_regions()["Regions"])


def _role_arn(account: str, aws: AwsSettings) -> str | None:
    return None if aws.role_name is None else f"arn:aws:iam::{account}:role/{aws.role_name}"


def _job(account: str, region: str, role_arn: str | None, **extra: Any) -> ScopeJob:
    """Only identifiers travel with a job; credentials are obtained where it runs."""
    params = {"account_id": account, "region": region, "role_arn": role_arn, **extra}
    return ScopeJob(CLOUD, f"{account}/{region}", params)


def _failed_account_job(account: str, role_arn: str | None, exc: BaseException) -> ScopeJob:
    info = classify(exc)
    log.error("AWS account %s cannot be read: %s: %s", account, info.error_class, redact(str(exc)))
    return _job(account, "*", role_arn, error_class=info.error_class, error_message=redact(str(exc)))


def _account_session(role_arn: str | None, aws: AwsSettings, region: str) -> boto3.Session:
    """A session in the account, the role assumed now (planning checks that it can be)."""
    session = _session(role_arn, aws, region)
    _credentials(session).get_frozen_credentials()
    return session


# ---------------------------------------------------------------------------------------------- sessions

class _AssumedRole(CredentialProvider):
    """Credentials of an assumed role, fetched on first use and refreshed before they expire."""

    METHOD = "edrcov-assume-role"

    def __init__(self, fetcher: AssumeRoleCredentialFetcher):
        super().__init__()
        self._fetcher = fetcher

    def load(self) -> DeferredRefreshableCredentials:
        return DeferredRefreshableCredentials(self._fetcher.fetch_credentials, self.METHOD)


def _session(role_arn: str | None, aws: AwsSettings, region: str) -> boto3.Session:
    """A boto3 session for one job: the caller's credentials, or the role assumed lazily through STS."""
    base = _new_session(region)
    if role_arn is None:
        return base
    extra = {"RoleSessionName": SESSION_NAME} | ({"ExternalId": aws.external_id} if aws.external_id else {})
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=partial(base.client, **_client_kwargs(region, aws)),
        source_credentials=_credentials(base), role_arn=role_arn, extra_args=extra)
    return _new_session(region, _AssumedRole(fetcher))


def _new_session(region: str, provider: CredentialProvider | None = None) -> boto3.Session:
    """A session (with ``provider``'s credentials, if given) sharing this process's parsed service
    models: parsing them again for every job would cost ~0.3 s of CPU per job (EC2's model is large)."""
    core = botocore.session.Session()
    core.register_component("data_loader", _loader())
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    if provider is not None:
        core.register_component("credential_provider", CredentialResolver([provider]))
    return boto3.Session(botocore_session=core, region_name=region)


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser without dateutil for the extended ISO-8601 strings with a zone that AWS
    sends (``2026-11-26T02:00:00.000Z``): the same instant, from ``datetime.fromisoformat``. dateutil took
    a fifth of the connector's CPU (an EC2 instance carries several timestamps). Anything else (epoch
    numbers, RFC 822, a string without a zone) goes to botocore's own parser."""
    if isinstance(value, str) and value[4:5] == "-" and "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return botocore.utils.parse_timestamp(value)


@cache
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def _credentials(session: boto3.Session) -> Any:
    credentials = session.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    return credentials


def _client_kwargs(region: str, aws: AwsSettings) -> dict[str, Any]:
    """Adaptive retries and timeouts; ``endpoint_url`` only when configured, so that boto3's own
    ``AWS_ENDPOINT_URL_<SERVICE>`` environment variables keep working otherwise.

    ``max_attempts`` counts the first attempt too (as ``AWS_MAX_ATTEMPTS`` does): botocore's
    ``retries["max_attempts"]`` would count retries only, so it is passed as ``total_max_attempts``."""
    config = Config(retries={"mode": "adaptive", "total_max_attempts": aws.max_attempts},
                    connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS)
    kwargs: dict[str, Any] = {"region_name": region, "config": config}
    if aws.endpoint_url:
        kwargs["endpoint_url"] = aws.endpoint_url
    return kwargs


def _client(session: boto3.Session, service: str, region: str, aws: AwsSettings,
            counter: RequestCounter | None = None) -> Any:
    """A client whose every HTTP request (retries included) is counted into ``counter``."""
    client = session.client(service, **_client_kwargs(region, aws))
    if counter is not None:
        client.meta.events.register("before-send", counter)
    return client


# ---------------------------------------------------------------------------------------------- get

def get_ec2_instance_pages(ec2: Any, job: ScopeJob) -> Iterator[Page]:
    """Every DescribeInstances page, one landing page per reservation (it carries OwnerId and its id)."""
    paginator = ec2.get_paginator("describe_instances")
    for page in paginator.paginate(PaginationConfig={"PageSize": EC2_PAGE_SIZE}):
        for reservation in page.get("Reservations", []):
            context = {"account_id": reservation.get("OwnerId", job.params["account_id"]),
                       "region": job.params["region"], "reservation_id": reservation.get("ReservationId")}
            yield reservation.get("Instances", []), context


def get_managed_instances(ssm: Any) -> Iterator[list[dict[str, Any]]]:
    """Every DescribeInstanceInformation page: the instances SSM manages (EC2 and hybrid ``mi-``)."""
    paginator = ssm.get_paginator("describe_instance_information")
    for page in paginator.paginate(PaginationConfig={"PageSize": SSM_PAGE_SIZE}):
        yield page.get("InstanceInformationList", [])


def get_instance_information_pages(ssm: Any, job: ScopeJob, *, managed: dict[str, str | None] | None = None
                                   ) -> Iterator[Page]:
    """Every DescribeInstanceInformation page. Each managed instance's id and ``PlatformType`` is noted in
    ``managed`` too (emptied first, so that a retried attempt starts afresh): what the inventory reads."""
    if managed is not None:
        managed.clear()
    context = _ssm_context(job)
    for infos in get_managed_instances(ssm):
        if managed is not None:
            for info in infos:
                instance_id = info.get("InstanceId")  # a record without one is rejected: no inventory to read
                if isinstance(instance_id, str) and instance_id and instance_id not in managed:
                    managed[instance_id] = info.get("PlatformType")
        yield infos, context


def get_inventory_pages(ssm: Any, job: ScopeJob, *, type_name: str, instances: Sequence[Instance]
                        ) -> Iterator[Page]:
    """Inventory of one type for each of ``instances`` that can have it, instance after instance."""
    context = _ssm_context(job)
    for instance_id, platform in instances:
        if type_name != SERVICE or platform not in NO_SERVICE_INVENTORY:
            yield from get_inventory_entry_pages(ssm, instance_id, type_name, context)


def get_inventory_entry_pages(ssm: Any, instance_id: str, type_name: str, context: dict[str, Any]
                              ) -> Iterator[Page]:
    """ListInventoryEntries pages of one instance (no botocore paginator exists for it; each response
    carries the CaptureTime the rows need, hence not ``base.paged`` with its fixed context)."""
    kwargs: dict[str, Any] = {"InstanceId": instance_id, "TypeName": type_name, "MaxResults": SSM_PAGE_SIZE}
    while True:
        try:
            response = ssm.list_inventory_entries(**kwargs)
        except ClientError as exc:
            if _code(exc) != "InvalidInstanceId":
                raise
            log.info("%s vanished from SSM while its inventory was being read; skipped", instance_id)
            return
        page_context = {**context, "instance_id": instance_id, "capture_time": response.get("CaptureTime")}
        yield response.get("Entries", []), page_context
        if not response.get("NextToken"):
            return
        kwargs["NextToken"] = response["NextToken"]


def _ssm_context(job: ScopeJob) -> dict[str, Any]:
    return {"account_id": job.params["account_id"], "region": job.params["region"]}


# listing dataset -> (service, get pages); then the inventory datasets -> their SSM inventory type
LISTINGS: dict[str, tuple[str, Callable[..., Iterator[Page]]]] = {
    "aws__ec2_instances": ("ec2", get_ec2_instance_pages),
    "aws__ssm_instance_information": ("ssm", get_instance_information_pages),
}
INVENTORY_TYPES = {"aws__ssm_applications": APPLICATION, "aws__ssm_services": SERVICE}
DATASETS = (*LISTINGS, *INVENTORY_TYPES)


# ---------------------------------------------------------------------------------------------- shards

def inventory_shards(instances: Sequence[Instance], shard_size: int, max_shards: int) -> list[list[Instance]]:
    """The managed instances in contiguous batches of at most ``shard_size``, getting smaller towards the end
    of the list (one batch if they fit in one): whole batches while more than two remain, then halves of
    what remains down to a quarter of ``shard_size``. Every instance in exactly one batch, in listing
    order; none for no instance.

    Why tapered: the flow starts the largest waiting shard first (``flows.scheduling``), so the night ends
    on small shards and the workers finish together, not most of them idle while a few full shards run
    (guided self-scheduling). Equal batches of ``ceil(n / shard_size)`` were up to a full shard's time
    slower at the end. If that makes more than ``max_shards`` batches, ``max_shards`` near-equal ones."""
    if not instances:
        return []
    sizes = _tapered_sizes(len(instances), shard_size)
    if len(sizes) > max_shards:
        count = min(max_shards, math.ceil(len(instances) / shard_size))
        size, larger = divmod(len(instances), count)
        sizes = [size + (1 if k < larger else 0) for k in range(count)]
    batches, start = [], 0
    for size in sizes:
        batches.append(list(instances[start:start + size]))
        start += size
    return batches


def _tapered_sizes(count: int, shard_size: int) -> list[int]:
    if count <= shard_size:
        return [count]  # one batch: the region's own job reads it
    smallest = max(1, shard_size // 4)
    sizes, remaining = [], count
    while remaining > 0:
        if remaining <= smallest:
            size = remaining
        elif remaining > 2 * shard_size:
            size = shard_size
        else:
            size = min(shard_size, math.ceil(remaining / 2))
        sizes.append(size)
        remaining -= size
    return sizes


def _shard_job(job: ScopeJob, number: int, count: int, instances: list[Instance]) -> ScopeJob:
    """An inventory shard: the account-region's scope and identifiers, plus the instances it reads."""
    params = {**job.params, SHARD_INSTANCES: tuple(instances)}
    return ScopeJob(CLOUD, job.scope, params, part=f"inventory {number}/{count}", machines=len(instances))


# ---------------------------------------------------------------------------------------------- extract

def extract_job(job: ScopeJob, landing: Landing, settings: Settings, retry: RetryPolicy | None = None
                ) -> list[JobResult]:
    """Land the AWS datasets of one (account, region), or the inventory of one shard of it; failures are
    recorded, never raised.

    An account-region job lands EC2 instances and SSM instance information, then reads the inventory of
    the managed instances it just listed. When there are more than ``inventory_shard_size``, it hands
    back shard jobs (``part = "inventory k/n"``) that read it instead, for the runner to spread."""
    aws = settings.aws or AwsSettings()
    if "error_class" in job.params:
        fail = partial(_raise_planning_error, job)
        return [extract_dataset(landing, job, name, fail, source=SOURCE, retry=retry) for name in DATASETS]
    # One session per job, made on first use inside extract_dataset (so a failure is recorded, not
    # raised) and shared by the datasets: the role is assumed once and refreshed when due.
    session = cache(partial(_session, job.params["role_arn"], aws, job.params["region"]))
    if SHARD_INSTANCES in job.params:
        return _extract_inventory(landing, job, job.params[SHARD_INSTANCES], session, aws, retry)
    managed: dict[str, str | None] = {}
    outcomes = [_extract(landing, job, "aws__ec2_instances", session, aws, retry),
                _extract(landing, job, "aws__ssm_instance_information", session, aws, retry, managed=managed)]
    listed = outcomes[-1]
    if listed.status != "ok":  # nothing tells which instances to read
        message = "not read: the managed instances could not be listed (aws__ssm_instance_information failed)"
        return [*outcomes, *(failed(landing, job, name, SOURCE, listed.error_class or "Unknown", message)
                             for name in INVENTORY_TYPES)]
    shards = inventory_shards(list(managed.items()), aws.inventory_shard_size, aws.inventory_max_shards)
    if len(shards) <= 1:
        return [*outcomes, *_extract_inventory(landing, job, shards[0] if shards else [], session, aws, retry)]
    log.info("%s: %d managed instances, inventory read in %d shards", job.scope, len(managed), len(shards))
    return [*outcomes, *(_shard_job(job, n, len(shards), batch) for n, batch in enumerate(shards, 1))]


def _extract(landing: Landing, job: ScopeJob, dataset: str, session: Callable[[], boto3.Session],
             aws: AwsSettings, retry: RetryPolicy | None, **options: Any) -> ExtractOutcome:
    """One listing dataset; a fresh client per attempt, its requests counted into the dataset's counter."""
    service, get_pages = LISTINGS[dataset]
    return _extract_pages(landing, job, dataset, service, partial(get_pages, **options), session, aws, retry)


def _extract_inventory(landing: Landing, job: ScopeJob, instances: Sequence[Instance],
                       session: Callable[[], boto3.Session], aws: AwsSettings, retry: RetryPolicy | None
                       ) -> list[ExtractOutcome]:
    """Both inventory datasets of ``instances``, each retried on its own."""
    return [_extract_pages(landing, job, dataset, "ssm",
                           partial(get_inventory_pages, type_name=type_name, instances=instances),
                           session, aws, retry)
            for dataset, type_name in INVENTORY_TYPES.items()]


def _extract_pages(landing: Landing, job: ScopeJob, dataset: str, service: str,
                   get_pages: Callable[[Any, ScopeJob], Iterator[Page]], session: Callable[[], boto3.Session],
                   aws: AwsSettings, retry: RetryPolicy | None) -> ExtractOutcome:
    counter = RequestCounter()

    def pages() -> Iterator[Page]:
        return get_pages(_client(session(), service, job.params["region"], aws, counter), job)

    return extract_dataset(landing, job, dataset, pages, source=SOURCE, requests=counter, retry=retry)


class PlanningError(Exception):
    """The account could not be read at planning time; replayed per dataset so each records the failure."""

    def __init__(self, error_class: str, message: str):
        super().__init__(message)
        self.error_class = error_class


def _raise_planning_error(job: ScopeJob) -> Iterator[Page]:
    raise PlanningError(job.params["error_class"], job.params.get("error_message") or "")


# ---------------------------------------------------------------------------------------------- errors

_DENIED = {"UnauthorizedOperation", "AuthFailure", "InvalidClientTokenId", "ExpiredToken",
           "ExpiredTokenException", "UnrecognizedClientException"}
_THROTTLED = {"RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled", "SlowDown"}
_SERVER = {"InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable",
           "ServiceUnavailableException"}


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


@register_classifier
def classify_botocore(exc: BaseException) -> ErrorInfo | None:
    """How botocore's exceptions map to error classes; ``None`` for anything not AWS's."""
    if isinstance(exc, ClientError):
        return _classify_client_error(exc)
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return ErrorInfo("Timeout", True)
    if isinstance(exc, BotoConnectionError | ConnectionClosedError):  # EndpointConnectionError included
        return ErrorInfo("ConnectionError", True)
    if isinstance(exc, PlanningError):
        return ErrorInfo(exc.error_class, False)
    return None


def _classify_client_error(exc: ClientError) -> ErrorInfo:
    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if code.startswith("AccessDenied") or code in _DENIED:
        return ErrorInfo("AccessDenied", False)
    if code.startswith("Throttling") or code in _THROTTLED or status == 429:
        return ErrorInfo("Throttled", True)
    if status >= 500 or code in _SERVER:
        return ErrorInfo("ServerError", True)
    if "NotFound" in code:
        return ErrorInfo("NotFound", False)
    return ErrorInfo("BadRequest", False)
