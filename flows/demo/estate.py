"""Land a deterministic demo estate through the same ``Landing`` writer as the real connectors.

``demo_pages`` builds every API page the connectors would have received for one snapshot date;
``land_demo_estate`` writes them dataset by dataset and scope by scope, and records one ``extract_runs``
outcome per (scope, dataset). ``planned_machines`` (re-exported here) says which machines exist on a night and
which verdict each is built to get, so tests can hold the models to the generator's intent. The estate
evolves from night to night (machines launched, onboarded, broken, decommissioned; see
``flows.demo.evolution``), so a week of snapshots shows trends and changes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flows.demo.aws import add_ec2_arc_mirror, add_ssm, ec2_instance
from flows.demo.azure import (
    add_azure_machine,
    change_tracking_order,
    connector_rows,
    pricing_rows,
    resource_pricing_row,
)
from flows.demo.common import hex_id, rng_for, weighted
from flows.demo.gcp import add_gcp_machine
from flows.demo.inventory import DemoContext
from flows.demo.pages import DemoPage, PageCollector
from flows.demo.plan import CASES, KIND_CLOUD, PlannedMachine, Topology, planned_machines, topology
from flows.lake.datasets import DATASETS
from flows.lake.writer import ExtractOutcome, Landing

AZURE_ARG = (
    "azure__virtual_machines",
    "azure__arc_machines",
    "azure__machine_extensions",
    "azure__security_pricings",
    "azure__security_connectors",
    "azure__security_assessments",
)
AWS_DATASETS = (
    "aws__ec2_instances",
    "aws__ssm_instance_information",
    "aws__ssm_applications",
    "aws__ssm_services",
)
GCP_DATASETS = ("gcp__compute_instances", "gcp__os_inventories")


@dataclass
class DemoSummary:
    """What was generated: distinct machines per home cloud and per intended case, and rows per dataset.

    An EC2 / GCP machine that Defender also projected into Azure Arc counts once, under its own cloud;
    ``arc_mirrors`` says how many such pairs exist. ``malformed`` counts the records built to be rejected.
    """

    machines: int
    seed: int
    snapshot_date: date
    per_cloud: dict[str, int]
    per_kind: dict[str, int]
    per_case: dict[str, int]
    per_cloud_case: dict[str, dict[str, int]]
    arc_mirrors: int
    malformed: dict[str, int]
    rows: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)


def land_demo_estate(landing: Landing, machines: int = 3000, seed: int = 42) -> DemoSummary:
    """Write the demo estate for ``landing.snapshot_date``; the caller commits or aborts the landing."""
    plan = planned_machines(machines, seed, landing.snapshot_date)
    summary = summarize(plan, seed, landing.snapshot_date)
    for dataset, scope, pages in _grouped(demo_pages(machines, seed, landing.snapshot_date, plan=plan)):
        outcome = _land(landing, dataset, scope, pages)
        summary.rows[dataset] = summary.rows.get(dataset, 0) + outcome.rows
        summary.rejected[dataset] = summary.rejected.get(dataset, 0) + outcome.rejected_rows
    return summary


def _grouped(pages: list[DemoPage]) -> list[tuple[str, str, list[DemoPage]]]:
    groups: dict[tuple[str, str], list[DemoPage]] = {}
    for page in pages:
        groups.setdefault((page.dataset, page.scope), []).append(page)
    return [(dataset, scope, group) for (dataset, scope), group in groups.items()]


def _land(landing: Landing, dataset: str, scope: str, pages: list[DemoPage]) -> ExtractOutcome:
    """Stream one (dataset, scope) through its writer and record the outcome like a connector would."""
    with landing.writer(dataset, scope) as writer:
        for page in pages:
            writer.write_page(page.records, **page.context)
    outcome = ExtractOutcome(
        source="demo",
        cloud=DATASETS[dataset].cloud,
        scope=scope,
        dataset=dataset,
        status="ok",
        rows=writer.rows,
        rejected_rows=writer.rejected,
        pages=writer.pages,
        requests=writer.pages,
    )
    landing.record(outcome)
    return outcome


def summarize(plan: list[PlannedMachine], seed: int, snapshot_date: date) -> DemoSummary:
    """Counts of the plan: the numbers a coverage report of the demo estate should show."""
    per_cloud_case: dict[str, dict[str, int]] = {}
    for machine in plan:
        cases = per_cloud_case.setdefault(machine.cloud, dict.fromkeys(CASES, 0))
        cases[machine.case] += 1
    return DemoSummary(
        machines=len(plan),
        seed=seed,
        snapshot_date=snapshot_date,
        per_cloud=dict(Counter(m.cloud for m in plan)),
        per_kind=dict(Counter(m.kind for m in plan)),
        per_case={case: sum(1 for m in plan if m.case == case) for case in CASES},
        per_cloud_case=per_cloud_case,
        arc_mirrors=sum(1 for m in plan if m.arc_resource_id),
        malformed=dict(Counter(dataset for dataset, _ in MALFORMED)),
    )


def demo_pages(
    machines: int, seed: int, snapshot_date: date, *, plan: list[PlannedMachine] | None = None
) -> list[DemoPage]:
    """Every API page of the estate for one snapshot date, in a fixed order: pure and deterministic.

    By default the machines are those that exist that night (``planned_machines(machines, seed,
    snapshot_date)``). ``plan`` gives the machines to render instead, as they are: the caller's copy of that
    plan, or the date-independent ``planned_machines(machines, seed)`` for an estate that never changes.
    """
    plan = planned_machines(machines, seed, snapshot_date) if plan is None else plan
    ctx = DemoContext(seed, topology(seed), snapshot_date)
    out = PageCollector()
    _open_scopes(ctx.topology, out)
    _add_scope_records(ctx, plan, out)
    instances: dict[str, list[tuple[bool, dict[str, Any]]]] = {}  # scope -> (short-lived?, instance)
    for machine in plan:
        _add_machine(ctx, machine, out, instances)
    _add_reservations(ctx, instances, out)
    _add_malformed(ctx, out)
    for dataset in AZURE_ARG:  # the connector's queries end with "order by id asc"
        out.reorder(dataset, key=lambda row: row.get("id", ""))
    out.reorder("azure__change_tracking", key=change_tracking_order)
    return out.all_pages()


def _open_scopes(topo: Topology, out: PageCollector) -> None:
    """Every (dataset, scope) a connector queries, so scopes that answer nothing still get an outcome."""
    for sub in topo.subscriptions:
        for dataset in AZURE_ARG:
            out.open_scope(dataset, sub.id)
    for workspace in topo.workspaces:
        out.open_scope("azure__change_tracking", workspace.customer_id)
    for account in topo.aws_accounts:
        for region in account.locations:
            for dataset in AWS_DATASETS:
                out.open_scope(dataset, f"{account.id}/{region}")
    for project in topo.gcp_projects:
        for dataset in GCP_DATASETS:
            out.open_scope(dataset, f"projects/{project.id}")


def _add_scope_records(ctx: DemoContext, plan: list[PlannedMachine], out: PageCollector) -> None:
    """Defender plans per subscription (plus one VM-level override) and the multicloud connectors."""
    for sub in ctx.topology.subscriptions:
        for row in pricing_rows(ctx, sub):
            out.add("azure__security_pricings", sub.id, row)
    for machine in plan:
        if "pricing_override" in machine.flags:
            out.add("azure__security_pricings", machine.scope, resource_pricing_row(ctx, machine))
    for row in connector_rows(ctx):
        out.add("azure__security_connectors", ctx.topology.connector_subscription.id, row)


def _add_machine(
    ctx: DemoContext,
    machine: PlannedMachine,
    out: PageCollector,
    instances: dict[str, list[tuple[bool, dict[str, Any]]]],
) -> None:
    cloud = KIND_CLOUD[machine.kind]
    if cloud == "azure":
        add_azure_machine(ctx, machine, out)
    elif cloud == "gcp":
        add_gcp_machine(ctx, machine, out)
    else:
        instance = ec2_instance(ctx, machine)
        instances.setdefault(machine.scope, []).append((machine.generation is not None, instance))
        add_ssm(ctx, machine, out)
        if machine.arc_resource_id:
            add_ec2_arc_mirror(ctx, machine, instance, out)


def _add_reservations(
    ctx: DemoContext, instances: dict[str, list[tuple[bool, dict[str, Any]]]], out: PageCollector
) -> None:
    """Group each account-region's instances into reservations: mostly one instance, some several.

    Long-lived instances come first, so their reservations do not change as short-lived ones come and go.
    """
    for scope, tagged in sorted(instances.items()):
        scoped = [instance for _, instance in sorted(tagged, key=lambda pair: pair[0])]
        rng = rng_for(ctx.seed, scope, "reservations")
        account, region = scope.split("/")
        start = 0
        while start < len(scoped):
            size = weighted(rng, [(1, 0.8), (2, 0.12), (3, 0.05), (4, 0.03)])
            batch = scoped[start : start + size]
            reservation = f"r-{hex_id(rng_for(ctx.seed, batch[0]['InstanceId']), 17)}"
            out.add_page(
                "aws__ec2_instances",
                scope,
                batch,
                account_id=account,
                region=region,
                reservation_id=reservation,
            )
            start += size


# Records built to fail extraction: (dataset, what is wrong).
MALFORMED = (
    ("aws__ec2_instances", "instance without State"),
    ("azure__virtual_machines", "row without properties"),
    ("azure__change_tracking", "row without TimeGenerated"),
    ("gcp__compute_instances", "asset name that is not a zonal instance"),
)


def _add_malformed(ctx: DemoContext, out: PageCollector) -> None:
    """A few broken records, so the landing's reject path is exercised on every demo run."""
    topo = ctx.topology
    account = topo.aws_accounts[0]
    rng = rng_for(ctx.seed, "malformed")
    instance_id = f"i-{hex_id(rng, 17)}"
    out.add_page(
        "aws__ec2_instances",
        f"{account.id}/{account.locations[0]}",
        [{"InstanceId": instance_id, "InstanceType": "t3.micro", "ImageId": f"ami-{hex_id(rng, 17)}"}],
        account_id=account.id,
        region=account.locations[0],
        reservation_id=f"r-{hex_id(rng, 17)}",
    )
    sub = topo.subscriptions[0]
    out.add(
        "azure__virtual_machines",
        sub.id,
        {
            "id": f"/subscriptions/{sub.id}/resourceGroups/rg-broken/providers/Microsoft.Compute/"
            "virtualMachines/"
            f"half-created-vm",
            "name": "half-created-vm",
            "type": "microsoft.compute/virtualmachines",
            "subscriptionId": sub.id,
            "resourceGroup": "rg-broken",
        },
    )
    workspace = topo.workspaces[0]
    out.add(
        "azure__change_tracking",
        workspace.customer_id,
        {
            "Computer": "orphan-host",
            "ConfigDataType": "Software",
            "SoftwareName": "7-Zip 23.01 (x64)",
            "_ResourceId": f"/subscriptions/{sub.id}/resourcegroups/rg-broken/providers/microsoft.compute/"
            f"virtualmachines/orphan-host",
        },
    )
    project = topo.gcp_projects[0]
    out.add(
        "gcp__compute_instances",
        f"projects/{project.id}",
        {
            "name": f"//compute.googleapis.com/projects/{project.id}/regions/us-central1/instances/regional-ghost",
            "assetType": "compute.googleapis.com/Instance",
            "resource": {"data": {"id": "1", "name": "regional-ghost", "status": "RUNNING"}},
        },
    )
