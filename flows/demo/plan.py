"""What the demo estate is meant to be: its scopes and, per machine, the verdict case it is built to show.

The estate is ``machines`` slots. Kinds and usual cases are spread over the slots with a low-discrepancy
(R2) sequence rather than independent draws: any estate size gets close to the intended mix and every case
appears even in a few hundred machines. Everything else about a slot's machine comes from a random stream
seeded with ``(seed, index)``.

``planned_machines(machines, seed)`` is the estate as if nothing ever changed: every slot's usual machine
and case, independent of the date. ``planned_machines(machines, seed, night)`` is the estate as it is on
that night (see ``flows.demo.evolution``): short-lived slots hold that night's generation of machine (new
names and ids) or nothing, new machines are still being onboarded, a few long-lived ones are broken; each
machine's ``case`` is the verdict it is built to get *that night*. Long-lived machines keep their ids on
every night, and every case is present on every night.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flows.demo.catalog import (
    ENVS,
    EXEMPTION_REASONS,
    OS_BY_KEY,
    ROLES,
    TEAM_PREFIX,
    TEAMS,
    THIRD_PARTY_WEIGHTS,
    WINDOWS_SHARE,
    OsImage,
    images_for,
)
from flows.demo.common import guid, hex_id, rng_for, weighted
from flows.demo.evolution import Cycle, Life, broken_on, churn_cycle, life_on

CASES = ("protected", "unhealthy", "not_installed", "unknown", "exempt", "not_applicable")
KINDS = (("azure_vm", 0.40), ("arc", 0.05), ("ec2", 0.325), ("gcp_vm", 0.225))
KIND_CLOUD = {"azure_vm": "azure", "arc": "azure", "ec2": "aws", "gcp_vm": "gcp"}
CASE_WEIGHTS = {
    "protected": 0.70,
    "unhealthy": 0.05,
    "not_installed": 0.105,
    "unknown": 0.105,
    "exempt": 0.02,
    "not_applicable": 0.02,
}
# Arc on-premises servers run supported OSes only: their not_applicable share goes to not_installed.
ARC_CASE_WEIGHTS = {**CASE_WEIGHTS, "not_installed": 0.125, "not_applicable": 0.0}

# The R2 sequence (Roberts 2018): the most evenly spread 2-D low-discrepancy sequence.
_PLASTIC = 1.324717957244746
R2_STEP = (1 / _PLASTIC, 1 / _PLASTIC**2)


@dataclass(frozen=True)
class Scenario:
    """How a case shows itself on one kind of machine.

    ``needs_plan``: only where Defender for Servers deploys things (a P1/P2 subscription for Azure; an AWS
    account / GCP project whose connector auto-provisions Arc). ``requires``: an OS constraint.
    """

    name: str
    weight: float
    needs_plan: bool = False
    requires: str | None = None  # windows | mde_in_packages


_AZURE = {
    "protected": (
        Scenario("mde_extension", 0.62, needs_plan=True),
        Scenario("third_party_inventory", 0.33),
        Scenario("falcon_extension", 0.05),
    ),
    "unhealthy": (
        Scenario("mde_extension_failed", 0.45, needs_plan=True),
        Scenario("edr_service_stopped", 0.55),
    ),
    "not_installed": (Scenario("no_edr", 1.0),),
    "unknown": (Scenario("no_evidence", 0.5), Scenario("stale_inventory", 0.5)),
    "exempt": (Scenario("exempt_no_edr", 1.0),),
    "not_applicable": (Scenario("unsupported_os", 1.0),),
}
SCENARIOS: dict[str, dict[str, tuple[Scenario, ...]]] = {
    "azure_vm": _AZURE,
    "arc": {**_AZURE, "unknown": (Scenario("disconnected", 0.6), Scenario("no_evidence", 0.4))},
    "ec2": {
        "protected": (
            Scenario("inventory_mde", 0.46),
            Scenario("inventory_third_party", 0.42),
            Scenario("arc_mde", 0.10, needs_plan=True),
            Scenario("arc_mde_ssm_lost", 0.02, needs_plan=True),
        ),
        "unhealthy": (
            Scenario("edr_service_stopped", 0.75, requires="windows"),
            Scenario("arc_mde_failed", 0.25, needs_plan=True),
        ),
        "not_installed": (Scenario("no_edr", 1.0),),
        "unknown": (
            Scenario("no_ssm", 0.4),
            Scenario("ssm_connection_lost", 0.35),
            Scenario("stale_inventory", 0.25),
        ),
        "exempt": (Scenario("exempt_no_edr", 1.0),),
        "not_applicable": (Scenario("unsupported_os", 1.0),),
    },
    "gcp_vm": {
        # GCP's OS inventory has no services: MDE on Server 2019+ (the built-in Sense) is invisible there.
        "protected": (
            Scenario("inventory_mde", 0.52, requires="mde_in_packages"),
            Scenario("inventory_third_party", 0.40),
            Scenario("arc_mde", 0.08, needs_plan=True),
        ),
        "unhealthy": (Scenario("arc_mde_failed", 1.0, needs_plan=True),),
        "not_installed": (Scenario("no_edr", 1.0),),
        "unknown": (Scenario("no_inventory", 0.55), Scenario("stale_inventory", 0.45)),
        "exempt": (Scenario("exempt_no_edr", 1.0),),
        "not_applicable": (Scenario("unsupported_os", 1.0),),
    },
}
ARC_MIRROR_SCENARIOS = frozenset({"arc_mde", "arc_mde_ssm_lost", "arc_mde_failed"})
INVENTORY_THIRD_PARTY = frozenset({"third_party_inventory", "inventory_third_party"})
# A machine launched days ago cannot have an inventory weeks old or an agent long disconnected.
NEVER_NEW = frozenset({"stale_inventory", "disconnected", "ssm_connection_lost", "arc_mde_ssm_lost"})
# Slots that may hold short-lived machines: cloud VMs whose usual case depends on what gets installed.
CHURN_KINDS = frozenset({"azure_vm", "ec2", "gcp_vm"})
# Scenarios a machine shows while it is not its usual self (see flows.demo.evolution.PHASES).
AWAITING_INVENTORY = "awaiting_inventory"  # launched hours ago: no inventory agent has reported yet
TERMINATED = "terminated"  # an EC2 instance terminated within the hour, still listed
NAME_TAG_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


# ---------------------------------------------------------------------------------------------------------
# Scopes


@dataclass(frozen=True)
class Subscription:
    id: str
    name: str
    plan: str  # P2 | P1 | Free: the Defender for Servers plan of the subscription


@dataclass(frozen=True)
class Workspace:
    """A Log Analytics workspace collecting Change Tracking for some subscriptions."""

    customer_id: str
    resource_id: str
    subscription_ids: tuple[str, ...]


@dataclass(frozen=True)
class CloudAccount:
    """An AWS account or GCP project and its Defender for Servers connector plan (``None``: none)."""

    id: str
    number: str
    plan: str | None
    locations: tuple[str, ...]  # AWS regions / GCP zones

    @property
    def arc_auto_provisioning(self) -> bool:
        """Only the P2 connectors onboard machines into Arc in the demo, so mirrors stay a small share."""
        return self.plan == "P2"


@dataclass(frozen=True)
class Topology:
    """The estate's scopes, derived from the seed alone."""

    tenant_id: str
    subscriptions: tuple[Subscription, ...]
    workspaces: tuple[Workspace, ...]
    aws_accounts: tuple[CloudAccount, ...]
    gcp_projects: tuple[CloudAccount, ...]
    connector_resource_group: str = "rg-defender-multicloud"

    @property
    def connector_subscription(self) -> Subscription:
        return self.subscriptions[0]

    def subscription(self, subscription_id: str) -> Subscription:
        return next(s for s in self.subscriptions if s.id == subscription_id)

    def workspace_for(self, subscription_id: str) -> Workspace:
        return next(w for w in self.workspaces if subscription_id in w.subscription_ids)

    def aws_account(self, account_id: str) -> CloudAccount:
        return next(a for a in self.aws_accounts if a.id == account_id)

    def gcp_project(self, project_id: str) -> CloudAccount:
        return next(p for p in self.gcp_projects if p.id == project_id)


AZURE_LOCATIONS = ("westeurope", "northeurope", "eastus2")
AWS_REGIONS = ("us-east-1", "eu-west-1")
GCP_ZONES = (("us-central1-a", "us-central1-b"), ("europe-west1-b", "europe-west1-c"), ("us-east1-b",))


def topology(seed: int) -> Topology:
    """Three subscriptions (P2, P1, Free), two workspaces, three AWS accounts, three GCP projects."""
    rng = rng_for(seed, "topology")
    subs = tuple(
        Subscription(guid(rng), name, plan)
        for name, plan in (("sub-prod", "P2"), ("sub-corp", "P1"), ("sub-dev", "Free"))
    )
    workspaces = tuple(
        Workspace(
            guid(rng),
            f"/subscriptions/{subs[0].id}/resourceGroups/rg-monitoring/providers/"
            f"Microsoft.OperationalInsights/workspaces/{name}",
            members,
        )
        for name, members in (("law-central", (subs[0].id, subs[1].id)), ("law-dev", (subs[2].id,)))
    )
    accounts = tuple(
        CloudAccount(str(rng.randrange(10**11, 10**12)), "", plan, AWS_REGIONS) for plan in ("P2", "P1", None)
    )
    projects = tuple(
        CloudAccount(f"{name}-{rng.randrange(1000, 9999)}", str(rng.randrange(10**11, 10**12)), plan, zones)
        for (name, plan), zones in zip(
            (("acme-web-prod", "P2"), ("acme-data", "P1"), ("acme-sandbox", None)), GCP_ZONES, strict=True
        )
    )
    return Topology(guid(rng), subs, workspaces, accounts, projects)


# ---------------------------------------------------------------------------------------------------------
# Machines


@dataclass(frozen=True)
class PlannedMachine:
    """One real machine of the estate and the verdict it is built to get.

    ``machine_id`` is the id the machine's own cloud knows it by (Azure resource id, EC2 instance id, GCP
    asset name). ``arc_resource_id`` is set when Defender's connector also projected an EC2 / GCP machine
    into Azure Arc: the same machine then has two records, and must be counted once.
    """

    index: int
    kind: str  # azure_vm | arc | ec2 | gcp_vm
    case: str
    scenario: str
    edr: str | None  # the EDR whose evidence the records carry (installed, failed or stopped)
    os_key: str
    name: str
    hostname: str
    owner: str | None
    env: str
    scope: str  # Azure subscription id | "<account>/<region>" | "projects/<project>"
    location: str  # Azure location | AWS region | GCP zone
    resource_group: str | None
    machine_id: str
    native_id: str  # Azure vmId | EC2 instance id | GCP numeric instance id
    power: str  # running | stopped | transitioning | odd (see power_on for the date's state)
    private_ip: str | None = None
    arc_resource_id: str | None = None
    arc_vm_id: str | None = None
    exempt_reason: str | None = None
    exemption_expired: bool = False
    flags: frozenset[str] = field(default_factory=frozenset)
    # Only in a dated plan (see flows.demo.evolution):
    generation: int | None = None  # a short-lived slot's generation; None: a long-lived machine
    launched_at: datetime | None = None  # a short-lived machine's creation / launch time
    phase: str | None = None  # how tonight differs from its usual self (evolution.PHASES); None: it does not
    usual_scenario: str | None = None  # the scenario it shows outside its phase
    terminated_at: datetime | None = None  # phase "terminated": when the EC2 instance was terminated

    @property
    def cloud(self) -> str:
        return KIND_CLOUD[self.kind]

    @property
    def stream(self) -> str:
        """The key of the machine's random streams: its slot, and its generation for a short-lived one."""
        return str(self.index) if self.generation is None else f"{self.index}g{self.generation}"

    def power_on(self, snapshot_date: date) -> str:
        """The power bucket on that date: weekend-shutdown VMs are stopped on Saturdays and Sundays."""
        if "date_power" in self.flags:
            return "stopped" if snapshot_date.weekday() >= 5 else "running"
        return self.power

    @property
    def os(self) -> OsImage:
        return OS_BY_KEY[self.os_key]

    @property
    def family(self) -> str:
        return self.os.family

    @property
    def account_id(self) -> str:
        return self.scope.split("/")[0]

    @property
    def project_id(self) -> str:
        return self.scope.removeprefix("projects/")


def planned_machines(machines: int = 3000, seed: int = 42, snapshot_date: date | None = None) -> list[PlannedMachine]:
    """The estate's machines in slot order, each with the case it is meant to show.

    Without ``snapshot_date``: every slot's usual machine, as if nothing ever changed (what a single-night
    test or a fake cloud serving a fixed estate wants). With it: the machines that exist on that night, each
    with that night's intended case; see the module docstring.
    """
    topo = topology(seed)
    shift = rng_for(seed, "r2")
    offsets = (shift.random(), shift.random())
    plan = _mark_specials([_plan_machine(i, seed, topo, offsets) for i in range(machines)], topo)
    if snapshot_date is None:
        return plan
    cycles = {slot.index: churn_cycle(seed, slot.index, slot.case) if _may_churn(slot) else None for slot in plan}
    breakable = [slot.index for slot in plan if cycles[slot.index] is None and _broken_scenario(slot)]
    broken = broken_on(seed, breakable, snapshot_date)
    was_broken = broken_on(seed, breakable, snapshot_date - timedelta(days=1))
    tonight = []
    for slot in plan:
        cycle = cycles[slot.index]
        if cycle is None:
            tonight.append(_long_lived_on(slot, slot.index in broken, slot.index in was_broken))
        elif (machine := _short_lived_on(slot, seed, topo, offsets, cycle, snapshot_date)) is not None:
            tonight.append(machine)
    return tonight


def _short_lived_on(
    slot: PlannedMachine, seed: int, topo: Topology, offsets: tuple[float, float], cycle: Cycle, night: date
) -> PlannedMachine | None:
    """The short-lived slot's machine on ``night`` with the case it is meant to show; ``None``: none."""
    life = life_on(seed, slot.index, cycle, night)
    if life.alive(night):
        return _new_machine_on(_plan_machine(slot.index, seed, topo, offsets, life), life, night)
    if slot.kind == "ec2" and night == life.retired_on and life.terminated_at is not None:
        machine = _plan_machine(slot.index, seed, topo, offsets, life)
        return _without_edr(machine, TERMINATED, "unknown", "terminated", terminated_at=life.terminated_at)
    return None


def _may_churn(slot: PlannedMachine) -> bool:
    return slot.kind in CHURN_KINDS and not slot.flags


def _new_machine_on(machine: PlannedMachine, life: Life, night: date) -> PlannedMachine:
    """A short-lived machine: no inventory yet, then no EDR until it is onboarded, then its usual case."""
    age = (night - life.launched_on).days
    onboards = machine.case in ("protected", "unhealthy")
    if age == 0 and life.awaiting_inventory and machine.case != "unknown":
        return _without_edr(machine, AWAITING_INVENTORY, "unknown", "new")
    if onboards and age < life.onboarding_nights:
        return _without_edr(machine, "no_edr", "not_installed", "new" if age == 0 else "onboarding")
    if onboards and age == life.onboarding_nights:
        return dataclasses.replace(machine, phase="onboarded")
    return dataclasses.replace(machine, phase="new") if age == 0 else machine


def _without_edr(machine: PlannedMachine, scenario: str, case: str, phase: str, **changes) -> PlannedMachine:
    """The machine before its EDR (and the Arc projection Defender makes with it) arrives, or once it is gone."""
    return dataclasses.replace(
        machine,
        case=case,
        scenario=scenario,
        edr=None,
        arc_resource_id=None,
        arc_vm_id=None,
        phase=phase,
        usual_scenario=machine.scenario,
        **changes,
    )


def _long_lived_on(slot: PlannedMachine, broken: bool, was_broken: bool) -> PlannedMachine:
    """A long-lived machine: itself, unless its EDR is failing tonight or came back tonight."""
    if broken:
        failed = _broken_scenario(slot)
        return dataclasses.replace(
            slot, case="unhealthy", scenario=failed, phase="broken", usual_scenario=slot.scenario
        )
    return dataclasses.replace(slot, phase="recovered") if was_broken else slot


def _broken_scenario(m: PlannedMachine) -> str | None:
    """How a protected machine's EDR can fail where its records can show it: a Failed MDE extension, or the
    EDR's service stopped where the inventory lists services (Change Tracking; SSM on Windows only)."""
    if m.case != "protected":
        return None
    if m.scenario == "mde_extension":
        return "mde_extension_failed"
    if m.scenario == "arc_mde":
        return "arc_mde_failed"
    if m.edr is None or m.edr.startswith("trellix"):  # which ENS service proves it is unconfirmed
        return None
    if m.scenario == "third_party_inventory" or (
        m.scenario in ("inventory_mde", "inventory_third_party") and m.kind == "ec2" and m.family == "windows"
    ):
        return "edr_service_stopped"
    return None


def _r2_point(index: int, offsets: tuple[float, float]) -> tuple[float, float]:
    return tuple((off + (index + 1) * step) % 1.0 for off, step in zip(offsets, R2_STEP, strict=True))


def _pick_by_point(point: float, weights: tuple[tuple[str, float], ...]) -> str:
    """Map a point of [0, 1) onto weighted options, so an evenly spread sequence gives even quotas."""
    total = sum(w for _, w in weights)
    for value, weight in weights:
        point -= weight / total
        if point < 0:
            return value
    return weights[-1][0]


def _plan_machine(
    index: int, seed: int, topo: Topology, offsets: tuple[float, float], life: Life | None = None
) -> PlannedMachine:
    """Kind and case from the R2 point; scenario, scope, OS and identity from the machine's own stream.

    ``life``: one generation of a short-lived slot, drawn from its own stream: same kind and usual case as
    the slot, everything else new.
    """
    u_kind, u_case = _r2_point(index, offsets)
    kind = _pick_by_point(u_kind, KINDS)
    case_weights = ARC_CASE_WEIGHTS if kind == "arc" else CASE_WEIGHTS
    case = _pick_by_point(u_case, tuple(case_weights.items()))
    rng = rng_for(seed, index) if life is None else rng_for(seed, index, "generation", life.generation)
    scenarios = SCENARIOS[kind][case]
    if life is not None:
        scenarios = tuple(s for s in scenarios if s.name not in NEVER_NEW)
    scenario = weighted(rng, [(s, s.weight) for s in scenarios])
    image = _pick_os(rng, kind, case, scenario)
    return _identity(index, rng, topo, kind, case, scenario, image, life)


def _pick_os(rng: random.Random, kind: str, case: str, scenario: Scenario) -> OsImage:
    """An OS that can show the scenario: unsupported for not_applicable, Windows where services are needed."""
    if case == "not_applicable":
        family = "unsupported"
    elif scenario.requires == "windows":
        family = "windows"
    else:
        family = "windows" if rng.random() < WINDOWS_SHARE[kind] else "linux"
    images = images_for(kind, family)
    if scenario.requires == "mde_in_packages":
        images = [i for i in images if i.family == "linux" or i.downlevel]
    return weighted(rng, [(image, image.weight) for image in images])


def _pick_edr(rng: random.Random, kind: str, scenario: str, image: OsImage) -> str | None:
    """The EDR whose evidence the machine carries (Sophos has no Linux package to show in inventories)."""
    if scenario in ("mde_extension", "mde_extension_failed", "inventory_mde") or scenario in ARC_MIRROR_SCENARIOS:
        return "mde"
    if scenario == "falcon_extension":
        return "crowdstrike"
    if scenario == "edr_service_stopped":
        # Not Trellix: which of its Windows services proves ENS is unconfirmed (mfemms is shared).
        return weighted(rng, [("mde", 0.2), *[o for o in THIRD_PARTY_WEIGHTS if not o[0].startswith("trellix")]])
    if scenario in INVENTORY_THIRD_PARTY:
        options = list(THIRD_PARTY_WEIGHTS)
        if image.family == "linux" and kind in ("ec2", "gcp_vm"):
            options = [o for o in options if o[0] != "sophos"]
        return weighted(rng, options)
    # Stale inventories show no EDR: old evidence of an EDR would make the verdict a matter of policy.
    return None


def _pick_power(rng: random.Random, kind: str, case: str) -> str:
    """~85% running overall. EC2 stops only where the verdict does not hinge on SSM being online."""
    if case == "unknown":
        return weighted(rng, [("running", 0.42), ("stopped", 0.52), ("odd", 0.06)])
    if kind == "ec2" and case in ("protected", "unhealthy", "not_installed"):
        return weighted(rng, [("running", 0.97), ("transitioning", 0.02), ("odd", 0.01)])
    return weighted(rng, [("running", 0.90), ("stopped", 0.07), ("transitioning", 0.02), ("odd", 0.01)])


def _identity(
    index: int,
    rng: random.Random,
    topo: Topology,
    kind: str,
    case: str,
    scenario: Scenario,
    image: OsImage,
    life: Life | None = None,
) -> PlannedMachine:
    """Names, ids and scope of one machine; all drawn from the machine's own stream.

    A short-lived machine's name ends with a random suffix, like an autoscaled or scripted one, and it runs.
    """
    owner = rng.choice(TEAMS) if rng.random() < 0.88 else None
    env = weighted(rng, ENVS)
    role = rng.choice(ROLES)
    suffix = f"{index:04d}" if life is None else "".join(rng.choice(NAME_TAG_CHARS) for _ in range(5))
    name = f"{TEAM_PREFIX.get(owner or '', 'shr')}-{role}-{env}-{suffix}"
    builder = {"azure_vm": _azure_vm, "arc": _arc_onprem, "ec2": _ec2, "gcp_vm": _gcp_vm}[kind]
    fields = builder(rng, topo, scenario, image, name)
    exempt_reason = rng.choice(EXEMPTION_REASONS)[0] if case == "exempt" else None
    if life is not None:
        return PlannedMachine(
            index=index,
            kind=kind,
            case=case,
            scenario=scenario.name,
            edr=_pick_edr(rng, kind, scenario.name, image),
            os_key=image.key,
            owner=owner,
            env=env,
            power="running",
            exempt_reason=exempt_reason,
            generation=life.generation,
            launched_at=life.launched_at,
            **fields,
        )
    flags = frozenset({"date_power"}) if _date_power(rng, kind, scenario, env) else frozenset()
    return PlannedMachine(
        index=index,
        kind=kind,
        case=case,
        scenario=scenario.name,
        edr=_pick_edr(rng, kind, scenario.name, image),
        os_key=image.key,
        owner=owner,
        env=env,
        power=_pick_power(rng, kind, case),
        exempt_reason=exempt_reason,
        flags=flags,
        **fields,
    )


def _date_power(rng: random.Random, kind: str, scenario: Scenario, env: str) -> bool:
    """Dev Azure VMs protected by the MDE extension are shut down at weekends: power varies by date."""
    return kind == "azure_vm" and scenario.name == "mde_extension" and env == "dev" and rng.random() < 0.3


def _netbios(name: str) -> str:
    return name.replace("-", "").upper()[:15]


def _pick_subscription(rng: random.Random, topo: Topology, scenario: Scenario) -> Subscription:
    subs = [s for s in topo.subscriptions if s.plan != "Free"] if scenario.needs_plan else list(topo.subscriptions)
    return weighted(rng, [(s, 2.0 if s.plan == "P2" else 1.0) for s in subs])


def _azure_vm(rng: random.Random, topo: Topology, scenario: Scenario, image: OsImage, name: str) -> dict:
    sub = _pick_subscription(rng, topo, scenario)
    rg = f"rg-{name.split('-')[0]}-{name.split('-')[2]}"
    rg = rg.upper() if sub.plan == "P1" else rg  # ids keep the casing they were created with
    return dict(
        name=name,
        hostname=_netbios(name) if image.family == "windows" else name,
        scope=sub.id,
        location=rng.choice(AZURE_LOCATIONS),
        resource_group=rg,
        machine_id=f"/subscriptions/{sub.id}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}",
        native_id=guid(rng),
    )


def _arc_onprem(rng: random.Random, topo: Topology, scenario: Scenario, image: OsImage, name: str) -> dict:
    sub = _pick_subscription(rng, topo, scenario)
    site = rng.choice(("fra", "ams", "dal"))
    host = f"srv-{site}-{name.split('-')[1]}{name[-4:]}"
    hostname = _netbios(host) if image.family == "windows" else host
    rg = f"rg-arc-onprem-{site}"
    return dict(
        name=hostname,
        hostname=hostname,
        scope=sub.id,
        location="westeurope",
        resource_group=rg,
        machine_id=f"/subscriptions/{sub.id}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{hostname}",
        native_id=guid(rng),
    )


def _ec2(rng: random.Random, topo: Topology, scenario: Scenario, image: OsImage, name: str) -> dict:
    accounts = [a for a in topo.aws_accounts if a.arc_auto_provisioning] if scenario.needs_plan else topo.aws_accounts
    account = rng.choice(accounts)
    region = rng.choice(account.locations)
    instance_id = f"i-{hex_id(rng, 17)}"
    ip = f"10.{rng.randrange(8, 64)}.{rng.randrange(0, 255)}.{rng.randrange(4, 250)}"
    hostname = f"EC2AMAZ-{hex_id(rng, 7).upper()}" if image.family == "windows" else f"ip-{ip.replace('.', '-')}"
    fields = dict(
        name=name,
        hostname=hostname,
        scope=f"{account.id}/{region}",
        location=region,
        resource_group=None,
        machine_id=instance_id,
        native_id=instance_id,
        private_ip=ip,
    )
    if scenario.name in ARC_MIRROR_SCENARIOS:
        fields |= _arc_mirror(rng, topo, instance_id)
    return fields


def _gcp_vm(rng: random.Random, topo: Topology, scenario: Scenario, image: OsImage, name: str) -> dict:
    projects = [p for p in topo.gcp_projects if p.arc_auto_provisioning] if scenario.needs_plan else topo.gcp_projects
    project = rng.choice(projects)
    zone = rng.choice(project.locations)
    hostname = _netbios(name) if image.family == "windows" else name
    fields = dict(
        name=name,
        hostname=hostname,
        scope=f"projects/{project.id}",
        location=zone,
        resource_group=None,
        machine_id=f"//compute.googleapis.com/projects/{project.id}/zones/{zone}/instances/{name}",
        native_id=str(rng.randrange(10**18, 9 * 10**18)),
        private_ip=f"10.{rng.randrange(128, 200)}.{rng.randrange(0, 255)}.{rng.randrange(2, 250)}",
    )
    if scenario.name in ARC_MIRROR_SCENARIOS:
        fields |= _arc_mirror(rng, topo, name)
    return fields


def _arc_mirror(rng: random.Random, topo: Topology, arc_name: str) -> dict:
    """Defender's connector creates the Arc machine in the connector's resource group, named after the VM."""
    sub = topo.connector_subscription
    return dict(
        arc_resource_id=f"/subscriptions/{sub.id}/resourceGroups/{topo.connector_resource_group}/"
        f"providers/Microsoft.HybridCompute/machines/{arc_name}",
        arc_vm_id=guid(rng),
    )


def _mark_specials(plan: list[PlannedMachine], topo: Topology) -> list[PlannedMachine]:
    """One-off records the report must cope with, each put on the first machine that fits it."""
    p1_sub = next(s.id for s in topo.subscriptions if s.plan == "P1")
    specials = (
        # An EC2 Name tag may hold any text: the report must escape it.
        (
            "html_name",
            lambda m: m.kind == "ec2" and m.case == "not_installed",
            {"name": "<script>alert(1)</script>"},
        ),
        # An exemption whose end date has passed no longer counts.
        (
            "expired_exemption",
            lambda m: m.kind == "azure_vm" and m.case == "not_installed",
            {"exempt_reason": EXEMPTION_REASONS[2][0], "exemption_expired": True},
        ),
        # Defender for Servers switched off on one VM of the P1 subscription (resource-level pricing).
        (
            "pricing_override",
            lambda m: m.kind == "azure_vm" and m.case == "not_installed" and m.scope == p1_sub,
            {},
        ),
        # Two exemptions renewed fortnightly: on any night one expires within two weeks.
        ("renewed_exemption", lambda m: m.case == "exempt", {}),
        ("renewed_exemption", lambda m: m.case == "exempt", {}),
    )
    for flag, fits, changes in specials:
        for pos, machine in enumerate(plan):
            if fits(machine) and not machine.flags - {"date_power"}:
                plan[pos] = dataclasses.replace(machine, flags=machine.flags | {flag}, **changes)
                break
    return plan
