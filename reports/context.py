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
class ChangeMachine:
    """A machine in one list of the changes section, from ``coverage_changes``.

    Attributes:
        machine_name: name in the cloud (untrusted text).
        cloud: 'azure', 'aws' or 'gcp'.
        scope_id: subscription, account or project.
        owner: owner tag or label, or None.
        previous_status: the EDR verdict the previous night, or None (new machines, expiring exemptions).
        previous_level: colour level of ``previous_status``.
        current_status: the EDR verdict tonight, or None (machines gone).
        current_level: colour level of ``current_status``.
        detail: the view's ``detail``: reason, EDR products or expiry date, or None.
    """

    machine_name: str
    cloud: str
    scope_id: str
    owner: str | None
    previous_status: str | None
    previous_level: Level
    current_status: str | None
    current_level: Level
    detail: str | None


@dataclass(frozen=True)
class ChangeGroup:
    """The ``coverage_changes`` rows of one change type.

    Attributes:
        change_type: 'newly_unprotected', 'exemption_expiring', 'new_machine', 'machine_gone' or
            'newly_protected'.
        title: display name of the change type, e.g. 'Newly unprotected'.
        note: one sentence saying what the change type means.
        level: colour level of the change type: 'bad' for newly unprotected, 'good' for newly protected.
        count: machines with this change tonight.
        machines: the machines shown (capped), worst verdict first, then by cloud, scope and name.
        omitted: machines not shown because of the cap.
    """

    change_type: str
    title: str
    note: str
    level: Level
    count: int
    machines: list[ChangeMachine]
    omitted: int


@dataclass(frozen=True)
class ChangesSection:
    """What changed since the previous night (``coverage_changes``), shown at the top of the report.

    Attributes:
        previous_night: the night compared with, or None when the database holds no earlier night yet.
        days_between: days from ``previous_night`` to the snapshot (1 unless nights were missed), or None.
        total: change rows tonight, all types together.
        groups: one group per change type, in display order (newly unprotected, exemptions expiring, new
            machines, machines gone, newly protected), including those with no machine.
    """

    previous_night: date | None
    days_between: int | None
    total: int
    groups: list[ChangeGroup]


@dataclass(frozen=True)
class CloudCoverage:
    """One cloud's coverage on one night of the trend (``coverage_daily`` summed over scopes and OS).

    Attributes:
        cloud: 'azure', 'aws' or 'gcp'.
        coverage_pct: protected / assessable running machines (0-100), or None when none is assessable
            (or the cloud had no machine that night).
        coverage_level: colour level of ``coverage_pct``.
        protected: running protected machines.
        assessable: running machines that are neither exempt nor not applicable.
    """

    cloud: str
    coverage_pct: float | None
    coverage_level: Level
    protected: int
    assessable: int


@dataclass(frozen=True)
class CoverageNight:
    """One night of the coverage trend (``coverage_daily`` summed over clouds, scopes and OS), as a bar.

    Attributes:
        night: the snapshot date.
        coverage_pct: protected / assessable running machines (0-100, two decimals), or None when none is
            assessable.
        coverage_level: colour level of ``coverage_pct``.
        protected: running protected machines.
        assessable: running machines that are neither exempt nor not applicable.
        running_machines: running machines.
        fill_px: width in pixels of the filled part of the bar.
        track_px: width in pixels of the empty rest of the bar.
        by_cloud: the night's coverage per cloud, in the order of ``CoverageTrend.clouds``.
    """

    night: date
    coverage_pct: float | None
    coverage_level: Level
    protected: int
    assessable: int
    running_machines: int
    fill_px: int
    track_px: int
    by_cloud: list[CloudCoverage]


@dataclass(frozen=True)
class CoverageTrend:
    """Coverage night by night over the retained nights: one horizontal bar per night, oldest first.

    Attributes:
        nights: the nights shown, the most recent ones when capped, oldest first.
        total_nights: nights up to the snapshot in ``coverage_daily``.
        omitted_nights: earlier nights not shown because of the cap.
        bar_px: full width of a bar in pixels: 100 % coverage.
        clouds: the clouds with machines on the nights shown, one column each.
        change_previous: change in percentage points from the previous night to the latest one (of the
            values rounded to one decimal, as shown), or None.
        change_window: change in percentage points from the first night shown to the latest one, or None.
    """

    nights: list[CoverageNight]
    total_nights: int
    omitted_nights: int
    bar_px: int
    clouds: list[str]
    change_previous: float | None
    change_window: float | None


@dataclass(frozen=True)
class UnprotectedNewMachine:
    """A machine first seen within the window that has never been protected and is still listed tonight.

    Attributes:
        machine_name: latest name (untrusted text).
        cloud: 'azure', 'aws' or 'gcp'.
        scope_id: subscription, account or project.
        owner: owner tag or label, or None.
        first_seen: the first night the machine was listed.
        days_unprotected: days since ``first_seen`` without protection.
        edr_status: tonight's verdict, from ``machine_edr_status``.
        status_level: colour level of the verdict.
    """

    machine_name: str
    cloud: str
    scope_id: str
    owner: str | None
    first_seen: date
    days_unprotected: int
    edr_status: str
    status_level: Level


@dataclass(frozen=True)
class TimeToProtect:
    """How long new machines stay without a working EDR (``time_to_protect``).

    Attributes:
        first_night: the first retained night; machines already listed then are left out (their start is
            unknown), or None when the database holds no night.
        nights: retained nights up to the snapshot in ``coverage_daily``.
        new_machines: machines first seen after ``first_night`` (never exempt nor not applicable).
        protected: of which protected at least once.
        median_days: median days from first seen to first protected, or None when none was protected.
        max_days: most days from first seen to first protected, or None.
        still_unprotected: new machines never protected and still listed tonight.
        median_days_unprotected: median days so far of those, or None.
        max_days_unprotected: most days so far of those, or None.
        gone_unprotected: new machines that were never protected and are no longer listed tonight.
        machines: the still unprotected machines shown, longest first (capped).
        omitted: still unprotected machines not shown because of the cap.
    """

    first_night: date | None
    nights: int
    new_machines: int
    protected: int
    median_days: float | None
    max_days: int | None
    still_unprotected: int
    median_days_unprotected: float | None
    max_days_unprotected: int | None
    gone_unprotected: int
    machines: list[UnprotectedNewMachine]
    omitted: int


def _no_changes() -> ChangesSection:
    return ChangesSection(previous_night=None, days_between=None, total=0, groups=[])


def _no_trend() -> CoverageTrend:
    return CoverageTrend(nights=[], total_nights=0, omitted_nights=0, bar_px=0, clouds=[],
                         change_previous=None, change_window=None)


def _no_time_to_protect() -> TimeToProtect:
    return TimeToProtect(first_night=None, nights=0, new_machines=0, protected=0, median_days=None,
                         max_days=None, still_unprotected=0, median_days_unprotected=None,
                         max_days_unprotected=None, gone_unprotected=0, machines=[], omitted=0)


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
        changes: what changed since the previous night, shown first.
        trend: coverage night by night over the retained nights.
        time_to_protect: how long new machines stay without a working EDR.
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
    changes: ChangesSection = field(default_factory=_no_changes)
    trend: CoverageTrend = field(default_factory=_no_trend)
    time_to_protect: TimeToProtect = field(default_factory=_no_time_to_protect)


#: Every dataclass the templates can reach from a :class:`CoverageContext`.
CONTEXT_TYPES: tuple[type, ...] = (
    CoverageContext, Headline, VerdictCounts, Breakdown, BreakdownRow, DataQuality, ExtractIssue,
    StoppedSection, StoppedMachine, CountRow, RecommendationGroup, Remediation, RecommendationMachine,
    ChangesSection, ChangeGroup, ChangeMachine, CoverageTrend, CoverageNight, CloudCoverage, TimeToProtect,
    UnprotectedNewMachine,
)
