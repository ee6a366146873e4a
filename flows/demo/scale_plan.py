"""The scale generator's machine plan: one row per machine slot, as a single DuckDB query over ``range(n)``.

It mirrors the per-record demo (``flows.demo.plan``): the same kinds, verdict cases, scenarios, operating
systems, names, scopes and EDR products, drawn with hash expressions on the slot index instead of
``random.Random`` streams, so a million machines are planned in a second and the same ``(machines, seed)``
gives the same machines on every night. Kinds and cases use the demo's R2 low-discrepancy sequence, so any
estate size gets close to the intended mix.

One addition: a small share of the ``unknown`` case is ``source_failed``: machines in one extra scope per
cloud (a subscription, an AWS region, a GCP project) whose inventory extraction failed tonight, so the
"restore source access" recommendations appear too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from flows.demo.catalog import (
    DISTRO_PUBLISHER,
    ENVS,
    EXEMPTION_REASONS,
    OS_IMAGES,
    ROLES,
    TEAM_PREFIX,
    TEAMS,
    THIRD_PARTY_WEIGHTS,
    WINDOWS_SHARE,
    images_for,
)
from flows.demo.common import guid, rng_for
from flows.demo.inventory import EDR_RUNNING, EDR_STOPPED, STALE
from flows.demo.plan import (
    _PLASTIC,
    ARC_CASE_WEIGHTS,
    ARC_MIRROR_SCENARIOS,
    CASE_WEIGHTS,
    CASES,
    INVENTORY_THIRD_PARTY,
    KINDS,
    SCENARIOS,
    CloudAccount,
    Subscription,
    Topology,
    topology,
)
from flows.demo.scale_sql import case, choose, in_list, lit, pick

SOURCE_FAILED = "source_failed"
SOURCE_FAILED_SHARE = 0.05  # of each kind's unknown machines
LEGACY_REGION = "ap-southeast-2"
LEGACY_ZONES = ("asia-southeast1-a",)
# The scale estate's scenarios: the demo's, plus source_failed among the unknown ones.
SCALE_SCENARIOS: dict[str, dict[str, tuple[tuple[str, float], ...]]] = {
    kind: {
        case_: tuple((s.name, s.weight * (1 - SOURCE_FAILED_SHARE) / sum(x.weight for x in scenarios))
                     for s in scenarios) + (((SOURCE_FAILED, SOURCE_FAILED_SHARE),) if case_ == "unknown" else ())
        for case_, scenarios in by_case.items()
    }
    for kind, by_case in SCENARIOS.items()
}
NEEDS_PLAN = {(k, s.name) for k, by_case in SCENARIOS.items() for ss in by_case.values() for s in ss if s.needs_plan}
REQUIRES = {(k, s.name): s.requires for k, by_case in SCENARIOS.items() for ss in by_case.values() for s in ss
            if s.requires}
OS_INDEX = {image.key: pos + 1 for pos, image in enumerate(OS_IMAGES)}  # 1-based, for SQL list indexing


@dataclass(frozen=True)
class ScaleTopology:
    """The demo's scopes plus one failing scope per cloud (see the module docstring)."""

    base: Topology
    legacy_subscription: Subscription
    legacy_account: CloudAccount  # an existing account; only its LEGACY_REGION fails
    legacy_project: CloudAccount

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return (*self.base.subscriptions, self.legacy_subscription)

    @property
    def gcp_projects(self) -> tuple[CloudAccount, ...]:
        return (*self.base.gcp_projects, self.legacy_project)

    @property
    def legacy_aws_scope(self) -> str:
        return f"{self.legacy_account.id}/{LEGACY_REGION}"

    def aws_scopes(self) -> list[str]:
        scopes = [f"{a.id}/{r}" for a in self.base.aws_accounts for r in a.locations]
        return [*scopes, self.legacy_aws_scope]

    def workspace_of(self, subscription_id: str) -> str | None:
        for workspace in self.base.workspaces:
            if subscription_id in workspace.subscription_ids:
                return workspace.customer_id
        return None


def scale_topology(seed: int) -> ScaleTopology:
    base = topology(seed)
    rng = rng_for(seed, "scale-topology")
    legacy_sub = Subscription(guid(rng), "sub-legacy", "Free")
    project = CloudAccount(f"acme-legacy-{rng.randrange(1000, 9999)}", str(rng.randrange(10**11, 10**12)), None,
                           LEGACY_ZONES)
    no_plan_account = next(a for a in base.aws_accounts if a.plan is None)
    return ScaleTopology(base, legacy_sub, no_plan_account, project)


def _u(salt: str) -> str:
    return f"u(i, {lit(salt)})"


def _r2_offsets(seed: int) -> tuple[float, float]:
    shift = random.Random(f"{seed}:scale-r2")
    return shift.random(), shift.random()


def _scenario_sql() -> str:
    branches = []
    for kind, by_case in SCALE_SCENARIOS.items():
        for case_, options in by_case.items():
            branches.append(f"WHEN kind = {lit(kind)} AND intent = {lit(case_)} THEN {pick(_u('scenario'), options)}")
    return f"(CASE {' '.join(branches)} END)"


def _family_sql() -> str:
    windows_only = [f"(kind = {lit(k)} AND scenario = {lit(s)})"
                    for (k, s), req in REQUIRES.items() if req == "windows"]
    share = case("kind", {k: f"({_u('family')} < {v!r})" for k, v in WINDOWS_SHARE.items()}, "FALSE")
    return (f"(CASE WHEN intent = 'not_applicable' THEN 'unsupported' WHEN {' OR '.join(windows_only)} THEN 'windows' "
            f"WHEN {share} THEN 'windows' ELSE 'linux' END)")


def _os_sql() -> str:
    """OS image index: among the images of the family that exist on the kind (downlevel Windows or Linux
    where MDE must show in the package list)."""
    branches = []
    mde_in_packages = [f"(kind = {lit(k)} AND scenario = {lit(s)})" for (k, s), r in REQUIRES.items()
                       if r == "mde_in_packages"]
    packages_only = " OR ".join(mde_in_packages) or "FALSE"
    for kind in WINDOWS_SHARE:
        for family in ("windows", "linux", "unsupported"):
            images = images_for(kind, family)
            if not images:
                continue
            options = [(OS_INDEX[im.key], im.weight) for im in images]
            restricted = [(OS_INDEX[im.key], im.weight) for im in images if im.family == "linux" or im.downlevel]
            expr = pick(_u("os"), options)
            if restricted and restricted != options:
                expr = f"(CASE WHEN {packages_only} THEN {pick(_u('os'), restricted)} ELSE {expr} END)"
            branches.append(f"WHEN kind = {lit(kind)} AND family = {lit(family)} THEN {expr}")
    return f"(CASE {' '.join(branches)} END)"


def _edr_sql() -> str:
    mde = {"mde_extension", "mde_extension_failed", "inventory_mde"} | ARC_MIRROR_SCENARIOS
    stopped = [("mde", 0.2), *[o for o in THIRD_PARTY_WEIGHTS if not o[0].startswith("trellix")]]
    no_sophos = [o for o in THIRD_PARTY_WEIGHTS if o[0] != "sophos"]
    return f"""(CASE
        WHEN {in_list('scenario', sorted(mde))} THEN 'mde'
        WHEN scenario = 'falcon_extension' THEN 'crowdstrike'
        WHEN scenario = 'edr_service_stopped' THEN {pick(_u('edr'), stopped)}
        WHEN {in_list('scenario', sorted(INVENTORY_THIRD_PARTY))} THEN (CASE
            WHEN family = 'linux' AND kind IN ('ec2', 'gcp_vm') THEN {pick(_u('edr'), no_sophos)}
            ELSE {pick(_u('edr'), THIRD_PARTY_WEIGHTS)} END)
        END)"""


def _power_sql() -> str:
    unknown = pick(_u("power"), [("running", 0.42), ("stopped", 0.52), ("odd", 0.06)])
    ec2_up = pick(_u("power"), [("running", 0.97), ("transitioning", 0.02), ("odd", 0.01)])
    usual = pick(_u("power"), [("running", 0.90), ("stopped", 0.07), ("transitioning", 0.02), ("odd", 0.01)])
    return f"""(CASE WHEN intent = 'unknown' THEN {unknown}
        WHEN kind = 'ec2' AND intent IN ('protected', 'unhealthy', 'not_installed') THEN {ec2_up}
        ELSE {usual} END)"""


def _scope_sql(topo: ScaleTopology) -> dict[str, str]:
    """Subscription / account + region / project + zone of each machine (needs_plan: where Defender deploys)."""
    subs = topo.base.subscriptions
    sub_weights = [(s.id, 2.0 if s.plan == "P2" else 1.0) for s in subs]
    planned_subs = [(s, w) for s, w in sub_weights if next(x for x in subs if x.id == s).plan != "Free"]
    accounts = topo.base.aws_accounts
    auto_accounts = [a.id for a in accounts if a.arc_auto_provisioning]
    projects = topo.base.gcp_projects
    auto_projects = [p.id for p in projects if p.arc_auto_provisioning]
    zones = case("project_id", {p.id: choose(_u("zone"), p.locations) for p in topo.gcp_projects})
    return {
        "subscription_id": f"""(CASE WHEN scenario = '{SOURCE_FAILED}' THEN {lit(topo.legacy_subscription.id)}
            WHEN needs_plan THEN {pick(_u('scope'), planned_subs)} ELSE {pick(_u('scope'), sub_weights)} END)""",
        "account_id": f"""(CASE WHEN scenario = '{SOURCE_FAILED}' THEN {lit(topo.legacy_account.id)}
            WHEN needs_plan THEN {choose(_u('scope'), auto_accounts)}
            ELSE {choose(_u('scope'), [a.id for a in accounts])} END)""",
        "aws_region": f"""(CASE WHEN scenario = '{SOURCE_FAILED}' THEN {lit(LEGACY_REGION)}
            ELSE {choose(_u('region'), accounts[0].locations)} END)""",
        "project_id": f"""(CASE WHEN scenario = '{SOURCE_FAILED}' THEN {lit(topo.legacy_project.id)}
            WHEN needs_plan THEN {choose(_u('scope'), auto_projects)}
            ELSE {choose(_u('scope'), [p.id for p in projects])} END)""",
        "zone": zones,
    }


def plan_stages(start: int, stop: int, seed: int, topo: ScaleTopology, snapshot_date: date) -> list[str]:
    """The plan of slots ``start <= i < stop`` as successive SELECTs, each over the previous one's rows
    (``{prev}``); the first reads ``range(start, stop)``. The result has one row per slot, in slot order.

    Each stage only refers to columns the previous stage produced (nest them as subqueries, see
    ``scale.plan_query``). Columns of the result: the intended verdict (``intent``), ``scenario``, OS, EDR, identity and
    scope, power bucket, inventory time and which records the machine has. Needs ``scale_sql.macros``.
    """
    off_kind, off_case = _r2_offsets(seed)
    step_kind, step_case = 1 / _PLASTIC, 1 / _PLASTIC**2
    arc_weights = tuple(ARC_CASE_WEIGHTS.items())
    scope = _scope_sql(topo)
    weekend = snapshot_date.weekday() >= 5
    night = snapshot_date.isoformat()
    needs_plan = " OR ".join(f"(kind = {lit(k)} AND scenario = {lit(s)})" for k, s in sorted(NEEDS_PLAN))
    team = choose(_u("team"), TEAMS)
    prefix = case("owner", {t: lit(p) for t, p in TEAM_PREFIX.items()}, "'shr'")
    sub_plan = case("subscription_id", {s.id: lit(s.plan) for s in topo.subscriptions})
    workspace = case("subscription_id", {s.id: lit(topo.workspace_of(s.id)) for s in topo.subscriptions})
    project_number = case("project_id", {p.id: lit(p.number) for p in topo.gcp_projects})
    connector_sub = topo.base.connector_subscription.id
    connector_rg = topo.base.connector_resource_group
    arc_prefix = (f"/subscriptions/{connector_sub}/resourceGroups/{connector_rg}"
                  "/providers/Microsoft.HybridCompute/machines/")
    netbios = "upper(replace({x}, '-', ''))[1:15]"
    os_of = {name: f"{lit([getter(im) for im in OS_IMAGES])}[os_idx]" for name, getter in (
        ("os_key", lambda im: im.key), ("pkg", lambda im: im.pkg), ("downlevel", lambda im: im.downlevel),
        ("distro_publisher", lambda im: DISTRO_PUBLISHER.get(im.key, "")))}
    from flows.demo.azure import CT_SHARE  # here: flows.demo.azure imports the per-record builders

    ct_share = case("scenario", {k: repr(v) for k, v in CT_SHARE.items()}, "0.0")
    slots = f"""SELECT i, {pick('u_kind', KINDS)} AS kind,
        (CASE WHEN {pick('u_kind', KINDS)} = 'arc' THEN {pick('u_case', arc_weights)}
            ELSE {pick('u_case', tuple(CASE_WEIGHTS.items()))} END) AS intent
    FROM (SELECT i,
            (CAST({off_kind!r} AS DOUBLE) + CAST(i + 1 AS DOUBLE) * {step_kind!r}::DOUBLE) % 1.0 AS u_kind,
            (CAST({off_case!r} AS DOUBLE) + CAST(i + 1 AS DOUBLE) * {step_case!r}::DOUBLE) % 1.0 AS u_case
        FROM range({int(start)}, {int(stop)}) AS t(i))"""
    scenarios = f"SELECT *, {_scenario_sql()} AS scenario FROM {{prev}}"
    choices = f"""SELECT *, {_os_sql()} AS os_idx
    FROM (SELECT *, {_family_sql()} AS family, ({needs_plan}) AS needs_plan,
        CASE WHEN {_u('owner')} < 0.88 THEN {team} END AS owner,
        {pick(_u('env'), ENVS)} AS env,
        {choose(_u('role'), ROLES)} AS role,
        format('{{:04d}}', i) AS suffix,
        {_power_sql()} AS usual_power,
        kind = 'azure_vm' AND scenario = 'mde_extension' AND {_u('date-power')} < 0.3 AS weekend_power
    FROM {{prev}})"""
    scoped = f"""SELECT * EXCLUDE (usual_power, weekend_power, needs_plan),
        {_edr_sql()} AS edr,
        {prefix} || '-' || role || '-' || env || '-' || suffix AS name,
        CASE WHEN kind IN ('azure_vm', 'arc') THEN {scope['subscription_id']} END AS subscription_id,
        CASE WHEN kind = 'ec2' THEN {scope['account_id']} END AS account_id,
        CASE WHEN kind = 'ec2' THEN {scope['aws_region']} END AS aws_region,
        CASE WHEN kind = 'gcp_vm' THEN {scope['project_id']} END AS project_id,
        CASE WHEN weekend_power AND env = 'dev' THEN {lit('stopped' if weekend else 'running')} ELSE usual_power END
            AS power,
        {choose(_u('site'), ('fra', 'ams', 'dal'))} AS site,
        CASE WHEN kind IN ('ec2', 'gcp_vm') THEN concat('10.',
            CASE WHEN kind = 'gcp_vm' THEN 128 + hk(i, 'ip1', 72) ELSE 8 + hk(i, 'ip1', 56) END, '.',
            hk(i, 'ip2', 255), '.', 4 + hk(i, 'ip3', 246)) END AS private_ip,
        -- Azure vmId | EC2 instance id | GCP numeric instance id
        CASE kind
            WHEN 'ec2' THEN 'i-0' || hexid(i, 'instance', 16)
            WHEN 'gcp_vm' THEN CAST(1000000000000000000 + hk(i, 'gcp-id', 8000000000000000000) AS VARCHAR)
            ELSE guid(i, 'vm-id') END AS native_id,
        scenario IN ('arc_mde', 'arc_mde_ssm_lost', 'arc_mde_failed') AS mirrored,
        CASE WHEN intent = 'exempt' THEN 1 + hk(i, 'exemption-reason', {len(EXEMPTION_REASONS)}) END AS exempt_idx,
        CASE WHEN intent = 'exempt' THEN last_day(date_trunc('month', {lit(snapshot_date)})
            + to_months(CAST(3 + hk(i, 'exemption', 12) AS INTEGER))) END AS exempt_until
    FROM {{prev}}"""
    placed = f"""SELECT * EXCLUDE (site, suffix),
        CASE kind
            WHEN 'azure_vm' THEN subscription_id
            WHEN 'arc' THEN subscription_id
            WHEN 'ec2' THEN account_id || '/' || aws_region
            ELSE 'projects/' || project_id END AS scope,
        CASE kind WHEN 'ec2' THEN account_id WHEN 'gcp_vm' THEN project_id ELSE subscription_id END AS scope_id,
        CASE kind
            WHEN 'azure_vm' THEN {choose(_u('location'), ('westeurope', 'northeurope', 'eastus2'))}
            WHEN 'arc' THEN 'westeurope'
            WHEN 'ec2' THEN aws_region
            ELSE {scope['zone']} END AS location,
        CASE WHEN kind = 'gcp_vm' THEN {scope['zone']} END AS zone,
        CASE kind
            -- ids keep the casing they were created with: the P1 subscription's groups are upper case
            WHEN 'azure_vm' THEN (CASE WHEN {sub_plan} = 'P1'
                THEN upper('rg-' || split_part(name, '-', 1) || '-' || env)
                ELSE 'rg-' || split_part(name, '-', 1) || '-' || env END)
            WHEN 'arc' THEN 'rg-arc-onprem-' || site END AS resource_group,
        {sub_plan} AS subscription_plan,
        {workspace} AS workspace_id,
        {project_number} AS project_number,
        -- on-premises Arc servers are named after their host; the slot suffix keeps names unique at scale
        CASE WHEN kind = 'arc' THEN 'srv-' || site || '-' || role || suffix ELSE name END AS resource_name,
        kind IN ('azure_vm', 'arc') AND {_u('change-tracking')} < {ct_share} AS has_ct
    FROM {{prev}}"""
    final = f"""SELECT
    i, kind, intent, scenario, family, os_idx, {', '.join(f'{expr} AS {name}' for name, expr in os_of.items())},
    CASE WHEN family = 'windows' THEN 'windows' ELSE 'linux' END AS inv_family,
    edr,
    CASE WHEN edr IS NULL THEN 'none' WHEN {in_list('scenario', sorted(EDR_STOPPED))} THEN 'stopped'
        WHEN {in_list('scenario', sorted(EDR_RUNNING))} THEN 'running' ELSE 'none' END AS edr_state,
    owner, env, role, name, resource_name,
    CASE
        WHEN kind = 'arc' AND family = 'windows' THEN {netbios.format(x='resource_name')}
        WHEN kind = 'arc' THEN resource_name
        WHEN kind = 'ec2' AND family = 'windows' THEN 'EC2AMAZ-' || upper(hexid(i, 'ec2-host', 7))
        WHEN kind = 'ec2' THEN 'ip-' || replace(private_ip, '.', '-')
        WHEN family = 'windows' THEN {netbios.format(x='name')}
        ELSE name END AS hostname,
    scope, scope_id, subscription_id, subscription_plan, workspace_id, account_id, project_id, project_number,
    location, zone, resource_group, power, private_ip,
    CASE kind
        WHEN 'azure_vm' THEN '/subscriptions/' || subscription_id || '/resourceGroups/' || resource_group
            || '/providers/Microsoft.Compute/virtualMachines/' || resource_name
        WHEN 'arc' THEN '/subscriptions/' || subscription_id || '/resourceGroups/' || resource_group
            || '/providers/Microsoft.HybridCompute/machines/' || resource_name
        WHEN 'ec2' THEN native_id
        ELSE '//compute.googleapis.com/projects/' || project_id || '/zones/' || zone || '/instances/' || name
    END AS machine_id,
    native_id,
    mirrored,
    CASE WHEN mirrored THEN {lit(arc_prefix)} || (CASE kind WHEN 'ec2' THEN native_id ELSE name END) END
        AS arc_resource_id,
    CASE WHEN mirrored THEN guid(i, 'arc-vm-id') END AS arc_vm_id,
    exempt_idx, exempt_until, has_ct,
    -- the latest inventory: hours ago; days ago when stopped; 8-30 days ago when stale
    CASE
        WHEN {in_list('scenario', sorted(STALE))} THEN ago_days(uniform(u(i, 'inventory-time:{night}'), 8, 30))
        WHEN power = 'stopped' THEN ago_days(uniform(u(i, 'inventory-time:{night}'), 1, 5))
        ELSE ago_hours(uniform(u(i, 'inventory-time:{night}'), 0.5, 20)) END AS inventory_at
FROM {{prev}}"""
    return [slots, scenarios, choices, scoped, placed, final]


__all__ = ["CASES", "SCALE_SCENARIOS", "ScaleTopology", "plan_stages", "scale_topology"]
