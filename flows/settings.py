"""One typed, validated settings object, read from a TOML file at start-up.

Every tunable has a default and a comment. Unknown keys are errors (a typo must not be silently ignored),
and validation errors are turned into one clear line naming the bad key (see ``load_settings``).
Secrets never live here: SMTP passwords come from an environment variable named in the config.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Plan = Literal["p2", "p1", "off"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Object stores the lake can live on with pyarrow's own clients; any other fsspec protocol also works.
LAKE_URL_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")


class OutputSettings(Section):
    data_dir: Path = Path("edrcov-data")  # lake/, edrcov.duckdb and reports/ live below this folder
    # The raw lake on object storage instead of data_dir/lake, for Dask workers on other machines:
    # "s3://bucket/prefix", "gs://bucket/prefix", "az://container/prefix" (see flows/lake/storage.py)
    lake_url: str | None = None

    @field_validator("lake_url")
    @classmethod
    def _object_store_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        from urllib.parse import urlsplit

        url = url.strip()
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if not scheme or scheme == "file" or "://" not in url:
            raise ValueError(f"{url!r} is not an object-store URL (s3://bucket/prefix); a local lake is data_dir")
        if not parts.netloc:
            raise ValueError(f"{url!r} names no bucket or container")
        from flows.lake.storage import secret_options

        if secret_options(url):
            raise ValueError("credentials do not belong in lake_url (it is logged and kept as a flow parameter): "
                             "use the store's credential chain (environment, profile, managed identity)")
        if scheme not in LAKE_URL_SCHEMES:
            import fsspec

            if scheme not in fsspec.available_protocols():
                raise ValueError(f"{url!r}: unknown storage scheme {scheme!r} "
                                 f"(use one of {', '.join(LAKE_URL_SCHEMES)} or an fsspec protocol)")
        base, _, query = url.partition("?")
        return base.rstrip("/") + (f"?{query}" if query else "")

    @property
    def lake(self) -> str | Path:
        """Where the lake is: the object-storage URL when one is set, else the local folder."""
        return self.lake_url or self.lake_dir

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "edrcov.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"


class EvidenceSettings(Section):
    stale_after_days: int = Field(7, ge=1, le=90)  # inventory older than this is not evidence of absence
    extra_catalogue: Path | None = None  # a CSV with the catalogue's columns, appended to the built-in rules


class PlanSettings(Section):
    """Defender for Servers plan per AWS account / GCP project where no security connector says it."""

    aws_accounts: dict[str, Plan] = {}
    gcp_projects: dict[str, Plan] = {}
    default_aws: Plan | None = None
    default_gcp: Plan | None = None


class ExemptionSettings(Section):
    tag: str = "edrcov-exempt"  # tag / label whose value is the reason
    until_tag: str = "edrcov-exempt-until"  # tag / label with the expiry date (YYYY-MM-DD)
    file: Path | None = None  # CSV: machine (id or name), reason, expires


class DemoSettings(Section):
    machines: int = Field(3000, ge=10, le=50_000_000)
    seed: int = 42
    history_days: int = Field(7, ge=1, le=180)  # nights a demo run lands (earlier ones once), for trends
    # Above this size the demo is landed by the vectorised scale generator (flows/demo/scale.py), tonight only.
    scale_threshold: int = Field(20_000, ge=10)


class BuildSettings(Section):
    """Resources the DuckDB build may use. The memory limit bounds DuckDB's buffer pool: beyond it joins
    and aggregates spill to a temporary folder next to the database instead of growing the process, so a
    million-machine estate builds within about 1.7 GiB of RSS (raise it on a bigger machine for speed; at
    1600MB a month's catch-up peaked just over 2 GiB). A model or data test that still runs out of memory is
    run again on one thread (``transforms.memory``)."""

    memory_limit: str = Field("1500MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    threads: int | None = Field(None, ge=1, le=1024)  # None: every core


class HistorySettings(Section):
    retention_days: int = Field(180, ge=2, le=3650)  # snapshots kept (Defender's machine timeline: six months)


class PriceOverride(Section):
    """A negotiated or other-currency price; applies from ``effective_from`` until a later one."""

    plan: Literal["p1", "p2"]
    hourly: float = Field(gt=0)
    effective_from: date
    currency: str = "USD"


class LicensingSettings(Section):
    currency: str = Field("USD", min_length=3, max_length=3)  # the currency reports are in
    prices: list[PriceOverride] = []  # added to sql/seeds/price_book.csv; same plan and date: yours wins
    # Flat monthly per-seat price to compare with. Default: the hourly price x 730 h (an always-on server).
    seat_prices: dict[Literal["p1", "p2"], float] = {}


class ReportSettings(Section):
    list_cap: int = Field(200, ge=10, le=5000)  # longest lists in HTML; the database keeps everything
    # Emailed reports show stable pseudonyms instead of host names, IPs and owner names (the database keeps
    # the real values), for organisations whose mail leaves their data boundary.
    pseudonymize: bool = False


class EmailSettings(Section):
    """SMTP delivery of the reports. The password never lives here: an environment variable or a Prefect
    Secret block holds it."""

    enabled: bool = False  # send after every run (or pass --email)
    smtp_host: str = "localhost"
    smtp_port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"  # tls: implicit TLS (port 465)
    username: str | None = None
    password_env: str | None = "EDRCOV_SMTP_PASSWORD"  # environment variable holding the password
    password_secret_block: str | None = None  # or the name of a Prefect Secret block
    ca_file: Path | None = None  # a private CA bundle to verify the server with
    sender: str = "edrcov@localhost"
    recipients: list[str] = []  # get the full reports
    # Owners get a report scoped to their machines: a tag/label value that is an email address...
    routing_tags: list[str] = ["owner", "security-contact"]
    # ...or a mapping of subscription / account / project id to addresses.
    scope_recipients: dict[str, list[str]] = {}
    max_message_bytes: int = Field(10_000_000, ge=100_000)  # bigger messages drop attachments, then fail
    retries: int = Field(3, ge=0, le=10)  # per message, with backoff
    timeout_seconds: float = Field(30, gt=0)


class AzureSettings(Section):
    """Azure Resource Graph (VMs, Arc, extensions, Defender pricings/connectors/assessments) and Log Analytics."""

    subscriptions: list[str] = []  # empty: every subscription the credential can read
    workspaces: list[str] = []  # Log Analytics workspace ids with Change Tracking and Inventory
    resource_manager_url: str = "https://management.azure.com"  # sovereign clouds, proxies, local tests
    log_analytics_endpoint: str = "https://api.loganalytics.io/v1"
    credential: Literal["default", "anonymous"] = "default"  # anonymous: loopback http:// endpoints only
    page_size: int = Field(1000, ge=1, le=1000)  # Resource Graph $top (its maximum is 1000)
    subscriptions_per_query: int = Field(1000, ge=1, le=1000)  # Resource Graph accepts up to 1000 per query
    # ConfigurationData look-back: longer than stale_after_days, so a stale machine shows as stale, not absent
    change_tracking_days: int = Field(30, ge=1, le=90)


class AwsSettings(Section):
    """EC2 and SSM through boto3; one assumed read-only role per account."""

    accounts: list[str] = []  # account ids; or organization = true to list them
    organization: bool = False  # list accounts with organizations:ListAccounts (from the management account)
    role_name: str | None = "EdrcovReadOnly"  # role assumed in each account; None: use the caller's account
    external_id: str | None = None  # sts:AssumeRole ExternalId, if the role's trust policy asks for one
    regions: list[str] = []  # empty: every enabled region (ec2:DescribeRegions)
    endpoint_url: str | None = None  # one endpoint for every service; AWS_ENDPOINT_URL_<SERVICE> also work
    max_attempts: int = Field(8, ge=1, le=20)  # botocore standard/adaptive retry attempts
    # SSM inventory is read one ListInventoryEntries call per managed instance and type. An account-region
    # with more managed instances than this reads them in several jobs (shards of at most this many), which
    # the task runner spreads over its workers like any other scope job...
    inventory_shard_size: int = Field(200, ge=1, le=100_000)
    # ...but never more than this many per account-region: at most that many workers call one region's SSM
    # (its API rate limits are per account and region) at once, whatever the runner's size.
    inventory_max_shards: int = Field(16, ge=1, le=1000)


class GcpSettings(Section):
    """Cloud Asset Inventory ListAssets over organizations, folders or projects."""

    scopes: list[str] = []  # organizations/N, folders/N or projects/ID
    api_endpoint: str | None = None  # e.g. a Private Service Connect endpoint, or a local test server
    page_size: int = Field(500, ge=1, le=1000)

    @field_validator("scopes")
    @classmethod
    def _scope_form(cls, scopes: list[str]) -> list[str]:
        for scope in scopes:
            kind, _, ident = scope.partition("/")
            if kind not in ("organizations", "folders", "projects") or not ident:
                raise ValueError(f"{scope!r} is not organizations/N, folders/N or projects/ID")
        return scopes


class ScheduleSettings(Section):
    """When `edrcov serve` runs the nightly flow."""

    cron: str = "0 2 * * *"  # nightly at 02:00
    timezone: str = "UTC"  # an IANA name, e.g. Europe/Paris: the cron is read in this zone

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
        return zone


class RunnerSettings(Section):
    """How extraction tasks run: threads in this process, or a Dask cluster."""

    kind: Literal["local", "dask"] = "local"
    max_workers: int = Field(8, ge=1, le=256)  # scopes extracted at once
    address: str | None = None  # Dask scheduler address; None with kind = dask starts a local cluster
    # The local cluster that kind = "dask" without an address starts (a real cluster sizes itself):
    dask_workers: int = Field(2, ge=1, le=256)
    dask_threads_per_worker: int = Field(4, ge=1, le=256)  # extraction waits on APIs: threads suffice
    # Worker processes instead of threads; each needs PREFECT_API_URL (a real Prefect server), or it would
    # start its own temporary one.
    dask_processes: bool = False

    @model_validator(mode="after")
    def _address_needs_dask(self) -> RunnerSettings:
        if self.address and self.kind != "dask":
            raise ValueError('address is a Dask scheduler address: set kind = "dask" too')
        return self


class Settings(Section):
    azure: AzureSettings | None = None  # absent section: Azure is skipped (said in the log)
    aws: AwsSettings | None = None
    gcp: GcpSettings | None = None
    runner: RunnerSettings = RunnerSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    output: OutputSettings = OutputSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    plans: PlanSettings = PlanSettings()
    exemptions: ExemptionSettings = ExemptionSettings()
    demo: DemoSettings = DemoSettings()
    history: HistorySettings = HistorySettings()
    build: BuildSettings = BuildSettings()
    licensing: LicensingSettings = LicensingSettings()
    email: EmailSettings = EmailSettings()
    reports: ReportSettings = ReportSettings()
    snapshot_date: date | None = None  # normally today (UTC); set to replay a given night

    @field_validator("snapshot_date", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the bad key."""


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{key}: {first['msg']}{more}"


def load_settings(path: Path | None) -> Settings:
    """Read and validate a TOML config; ``None`` gives the defaults (the demo estate)."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
