"""Typed context of the coverage report: everything its templates may use, and what each value means.

Every top-level template variable is a field of :class:`CoverageContext`, and every attribute a template
reads is a field of one of the dataclasses below; ``tests/reports`` checks both, and that each field is
described in its class's ``Attributes:`` docstring section. Values are plain data: raw strings from the
clouds stay raw here and are escaped by the template environment, numbers are formatted by its filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

#: Colour levels the templates map to styles: green, amber, red, grey.
Level = str


@dataclass(frozen=True)
class VerdictCounts:
    """Machines per EDR verdict for one group of machines (for example the running ones).

    Attributes:
        machines: number of machines in the group.
        protected: EDR installed and reporting healthy.
        unhealthy: EDR installed but not healthy (not reporting, onboarding failed, stale).
        not_installed: no EDR found although the inventory of the machine is current.
        unknown: no verdict possible (no or stale inventory, failed source).
        exempt: under a recorded exemption that has not expired.
        not_applicable: EDR does not apply (unsupported OS, appliance).
    """

    machines: int = 0
    protected: int = 0
    unhealthy: int = 0
    not_installed: int = 0
    unknown: int = 0
    exempt: int = 0
    not_applicable: int = 0


@dataclass(frozen=True)
class Headline:
    """The figures at the top of the report.

    Attributes:
        coverage_pct: overall coverage from ``coverage_summary`` (0-100, over running assessable
            machines), or None when no machine is assessable.
        coverage_level: colour level of ``coverage_pct``: 'good', 'warn', 'bad' or 'none'.
        machines: all machines in the snapshot.
        running: verdict counts of the running machines.
        stopped: verdict counts of the machines that are not running (stopped, transitioning, deleted,
            unknown power state).
        assessable_running: running machines that count towards coverage (neither exempt nor not
            applicable).
    """

    coverage_pct: float | None
    coverage_level: Level
    machines: int
    running: VerdictCounts
    stopped: VerdictCounts
    assessable_running: int


@dataclass(frozen=True)
class BreakdownRow:
    """One row of ``coverage_summary``: the machines sharing one value of a dimension.

    Attributes:
        value: the raw ``dimension_value`` (None shown as "(none)").
        label: display name of the value, e.g. 'Azure' for 'azure'.
        detail: secondary text, e.g. the cloud and kind of a scope ('AWS account'), or None.
        machines: machines with this value.
        running_machines: of which running.
        stopped_machines: of which not running.
        protected: verdict count, as aggregated by ``coverage_summary``.
        unhealthy: verdict count, as aggregated by ``coverage_summary``.
        not_installed: verdict count, as aggregated by ``coverage_summary``.
        unknown: verdict count, as aggregated by ``coverage_summary``.
        exempt: verdict count, as aggregated by ``coverage_summary``.
        not_applicable: verdict count, as aggregated by ``coverage_summary``.
        coverage_pct: coverage 0-100 over running assessable machines, None when none is assessable.
        coverage_level: colour level of ``coverage_pct``: 'good', 'warn', 'bad' or 'none'.
    """

    value: str | None
    label: str
    detail: str | None
    machines: int
    running_machines: int
    stopped_machines: int
    protected: int
    unhealthy: int
    not_installed: int
    unknown: int
    exempt: int
    not_applicable: int
    coverage_pct: float | None
    coverage_level: Level


@dataclass(frozen=True)
class Breakdown:
    """A breakdown table: the ``coverage_summary`` rows of one dimension.

    Attributes:
        dimension: the ``coverage_summary.dimension`` value, e.g. 'scope'.
        title: section heading, e.g. 'By scope (subscription, account, project)'.
        value_heading: heading of the first column, e.g. 'Scope'.
        rows: the rows shown, at most the list cap, in display order.
        total_rows: rows the dimension has in ``coverage_summary``.
        omitted_rows: rows not shown because of the cap.
        note: a sentence under the heading explaining the order or meaning, or None.
    """

    dimension: str
    title: str
    value_heading: str
    rows: list[BreakdownRow]
    total_rows: int
    omitted_rows: int
    note: str | None = None


@dataclass(frozen=True)
class ExtractIssue:
    """One ``extract_runs`` row that failed, was skipped or rejected records.

    Attributes:
        cloud: 'azure', 'aws' or 'gcp'.
        scope: the subscription, account-region, project or workspace the extract ran for.
        dataset: the raw dataset, e.g. 'aws__ec2_instances'.
        source: the source the dataset came from.
        status: 'ok', 'failed' or 'skipped'.
        rows: rows landed.
        rejected_rows: records the extractor could not read.
        error_class: exception class of a failure, or None.
        error_message: error message, shortened to a few hundred characters, or None.
    """

    cloud: str
    scope: str
    dataset: str
    source: str
    status: str
    rows: int
    rejected_rows: int
    error_class: str | None
    error_message: str | None


@dataclass(frozen=True)
class DataQuality:
    """Health of the extraction run behind the snapshot, drives the warning banner.

    Attributes:
        run_id: the most recent run in ``extract_runs``, or None when the view is empty.
        run_started_at: when that run's first extract started, or None.
        run_finished_at: when its last extract finished, or None.
        extracts: extract rows of the run.
        failed: failed extracts shown (capped); their scopes and datasets are missing from the report.
        failed_total: all failed extracts of the run.
        skipped: skipped extracts shown (capped).
        skipped_total: all skipped extracts of the run.
        rejected: extracts with rejected records shown (capped).
        rejected_total: all extracts of the run with rejected records.
        rejected_rows_total: rejected records summed over the run.
        has_warnings: True when the banner must show (any failed extract or rejected record).
    """

    run_id: str | None
    run_started_at: datetime | None
    run_finished_at: datetime | None
    extracts: int
    failed: list[ExtractIssue]
    failed_total: int
    skipped: list[ExtractIssue]
    skipped_total: int
    rejected: list[ExtractIssue]
    rejected_total: int
    rejected_rows_total: int
    has_warnings: bool


@dataclass(frozen=True)
class CountRow:
    """A label with a count, e.g. one power state and its number of machines.

    Attributes:
        label: display text.
        count: number of machines.
        level: colour level: 'good', 'warn', 'bad' or 'none'.
    """

    label: str
    count: int
    level: Level = "none"


@dataclass(frozen=True)
class StoppedMachine:
    """A machine that is not running, from ``machine_edr_status``.

    Attributes:
        machine_name: name in the cloud.
        cloud: 'azure', 'aws' or 'gcp'.
        scope_id: subscription, account or project.
        os_family: 'windows', 'linux' or 'other'.
        os_name: operating system name, or None.
        power_state: 'stopped', 'transitioning', 'deleted' or 'unknown'.
        edr_status: the verdict, e.g. 'not_installed'.
        status_level: colour level of the verdict.
        status_reason: why that verdict, e.g. 'inventory_stale', or None.
        owner: owner tag, or None.
    """

    machine_name: str
    cloud: str
    scope_id: str
    os_family: str
    os_name: str | None
    power_state: str
    edr_status: str
    status_level: Level
    status_reason: str | None
    owner: str | None


@dataclass(frozen=True)
class StoppedSection:
    """Machines that are not running: outside the coverage figure, shown apart.

    Attributes:
        total: machines not running.
        by_power_state: counts per power state.
        by_status: counts per EDR verdict, worst first.
        machines: the machines shown, at most the list cap, those lacking EDR first.
        omitted: machines not shown because of the cap.
    """

    total: int
    by_power_state: list[CountRow]
    by_status: list[CountRow]
    machines: list[StoppedMachine]
    omitted: int


@dataclass(frozen=True)
class Remediation:
    """One remediation action within a recommendation group.

    Attributes:
        action: the remediation action, e.g. 'Upgrade Defender plan'.
        steps: the remediation steps, one list item per line (numbering and bullets removed); when the
            steps differ per machine (identifiers filled in), those of ``example_machine``.
        machines: machines this remediation applies to.
        example_machine: the machine whose steps are shown when steps differ between machines, else None.
    """

    action: str
    steps: list[str]
    machines: int
    example_machine: str | None = None


@dataclass(frozen=True)
class RecommendationMachine:
    """A machine listed under a recommendation.

    Attributes:
        machine_name: name in the cloud.
        cloud: 'azure', 'aws' or 'gcp'.
        scope_id: subscription, account or project.
        os_family: 'windows', 'linux' or 'other'.
        edr_status: the verdict that raised the recommendation.
        status_level: colour level of the verdict.
        plan_status: Defender for Servers plan: 'p2', 'p1', 'off' or 'unknown'.
        remediation_action: what to do for this machine.
    """

    machine_name: str
    cloud: str
    scope_id: str
    os_family: str
    edr_status: str
    status_level: Level
    plan_status: str
    remediation_action: str


@dataclass(frozen=True)
class RecommendationGroup:
    """The open recommendations sharing one recommendation text and severity.

    Attributes:
        recommendation: the recommendation, e.g. 'EDR solution should be installed on EC2s'.
        severity: 'High', 'Medium' or 'Low'.
        severity_level: colour level of the severity.
        recommendation_ids: the distinct recommendation ids, comma separated.
        machines: machines with this recommendation open.
        remediations: remediation actions, most machines first (capped).
        omitted_remediations: remediation actions not shown because of the cap.
        listed: machines shown, at most the list cap.
        omitted: machines not shown because of the cap.
    """

    recommendation: str
    severity: str
    severity_level: Level
    recommendation_ids: str
    machines: int
    remediations: list[Remediation]
    omitted_remediations: int
    listed: list[RecommendationMachine]
    omitted: int


@dataclass(frozen=True)
class CoverageContext:
    """Everything the coverage report template uses; each field is a top-level template variable.

    Attributes:
        title: report title, including the snapshot date.
        snapshot_date: the snapshot the report describes, or None when the database holds none.
        generated_at: when the context was built (timezone-aware, UTC).
        list_cap: the maximum number of rows in any one list of the report.
        has_data: False when the database holds no machines: the template shows a short notice.
        headline: the headline figures.
        data_quality: extraction health, drives the warning banner.
        breakdowns: the breakdown tables (cloud, scope, OS family, EDR product, plan status).
        stopped: machines not running, shown apart from the coverage figures.
        recommendations: the open recommendations grouped by recommendation and severity, most severe
            first (capped).
        recommendation_rows: open recommendation rows in total (a machine may have several).
        recommendation_machines: distinct machines with at least one open recommendation.
        omitted_recommendations: recommendation groups not shown because of the cap.
    """

    title: str
    snapshot_date: date | None
    generated_at: datetime
    list_cap: int
    has_data: bool
    headline: Headline
    data_quality: DataQuality
    breakdowns: list[Breakdown] = field(default_factory=list)
    stopped: StoppedSection = field(
        default_factory=lambda: StoppedSection(total=0, by_power_state=[], by_status=[], machines=[],
                                               omitted=0))
    recommendations: list[RecommendationGroup] = field(default_factory=list)
    recommendation_rows: int = 0
    recommendation_machines: int = 0
    omitted_recommendations: int = 0


#: Every dataclass the templates can reach from a :class:`CoverageContext`.
CONTEXT_TYPES: tuple[type, ...] = (
    CoverageContext, Headline, VerdictCounts, Breakdown, BreakdownRow, DataQuality, ExtractIssue,
    StoppedSection, StoppedMachine, CountRow, RecommendationGroup, Remediation, RecommendationMachine,
)
