"""What is installed and running on a machine, and how old its latest inventory is, cloud-neutral.

Each cloud's builder formats the same ``Inventory`` its own way (Change Tracking rows, SSM entries, OS
Config items), so a machine's evidence is decided once, from its planned scenario. Contents depend only on
the seed and the machine's stream (its slot, and generation for a short-lived machine); ages and the power
state of the few machines that follow a weekly schedule also depend on the snapshot date.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flows.demo.catalog import (
    DISTRO_PUBLISHER,
    EDR_PRODUCTS,
    EXEMPTION_REASONS,
    LINUX_CLOUD_DAEMONS,
    LINUX_CLOUD_PACKAGES,
    LINUX_DAEMONS,
    LINUX_DECOYS,
    LINUX_PACKAGES,
    SENSE_SERVICE,
    WINDOWS_CLOUD_SERVICES,
    WINDOWS_CLOUD_SOFTWARE,
    WINDOWS_DECOYS,
    WINDOWS_SERVICES,
    WINDOWS_SOFTWARE,
)
from flows.demo.common import ago, month_end, rng_for
from flows.demo.evolution import renewed_until
from flows.demo.plan import PlannedMachine, Topology

# Scenarios whose inventory shows the EDR installed and running / installed with its service stopped.
EDR_RUNNING = frozenset(
    {
        "mde_extension",
        "falcon_extension",
        "third_party_inventory",
        "inventory_third_party",
        "inventory_mde",
        "arc_mde",
        "arc_mde_ssm_lost",
    }
)
EDR_STOPPED = frozenset({"edr_service_stopped"})
STALE = frozenset({"stale_inventory", "disconnected", "ssm_connection_lost", "arc_mde_ssm_lost"})


@dataclass(frozen=True)
class Software:
    """A Windows program or a Linux package."""

    name: str
    publisher: str
    version: str
    section: str = ""  # Linux package section / group
    summary: str = ""


@dataclass(frozen=True)
class Service:
    """A Windows service or a Linux daemon; ``start`` is Auto / Manual / Disabled."""

    name: str
    display: str
    state: str
    start: str = "Auto"


@dataclass
class Inventory:
    """A machine's latest inventory: programs or packages, and services or daemons."""

    software: list[Software] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)


def inventory_time(seed: int, machine: PlannedMachine, snapshot_date: date) -> datetime:
    """When the latest inventory was taken: hours ago, a few days ago if stopped, 8-30 days ago if stale.

    Stale stays within 30 days so that a connector reading Change Tracking over a 30-day look-back still
    sees it (with the default 7-day look-back such a machine has no rows at all).
    """
    rng = rng_for(seed, machine.stream, "inventory-time", snapshot_date.isoformat())
    if machine.scenario in STALE:
        return ago(snapshot_date, days=rng.uniform(8, 30))
    if machine.power_on(snapshot_date) == "stopped":
        return ago(snapshot_date, days=rng.uniform(1, 5))
    when = ago(snapshot_date, hours=rng.uniform(0.5, 20))
    if machine.launched_at is not None:  # a new machine's first inventory comes soon after its launch
        when = max(when, machine.launched_at + timedelta(minutes=20))
    return when


def build_inventory(seed: int, machine: PlannedMachine) -> Inventory:
    """The machine's software and services, with its EDR's evidence as the scenario wants it."""
    rng = rng_for(seed, machine.stream, "inventory")
    inventory = _windows_base(rng, machine) if machine.family == "windows" else _linux_base(rng, machine)
    if machine.arc_resource_id:  # onboarded to Arc by Defender's connector: the Arc agent runs there too
        _add_arc_agent(inventory, machine)
    edr_state = _edr_state(machine)
    if machine.family == "windows":
        _add_windows_edr(inventory, machine, edr_state)
    elif edr_state != "none" and machine.edr:
        _add_linux_edr(inventory, machine, edr_state)
    return _unique(inventory)


def _add_arc_agent(inventory: Inventory, machine: PlannedMachine) -> None:
    if machine.family == "windows":
        inventory.software += [Software(*WINDOWS_CLOUD_SOFTWARE["arc"][0])]
        inventory.services += [Service(*WINDOWS_CLOUD_SERVICES["arc"][0][:2], "Running")]
    else:
        name, deb_v, rpm_v, section, summary = LINUX_CLOUD_PACKAGES["arc"][0]
        rpm = machine.os.pkg in ("yum", "zypper")
        inventory.software.append(Software(name, "Microsoft Corporation", rpm_v if rpm else deb_v, section, summary))
        inventory.services.append(Service("himdsd", "himdsd", "Running"))


def _unique(inventory: Inventory) -> Inventory:
    """One entry per name, as the connectors' queries return (latest row per name)."""
    software = list({s.name: s for s in inventory.software}.values())
    services = list({s.name: s for s in inventory.services}.values())
    return Inventory(software, services)


def _edr_state(machine: PlannedMachine) -> str:
    if machine.edr is None:
        return "none"
    if machine.scenario in EDR_STOPPED:
        return "stopped"
    return "running" if machine.scenario in EDR_RUNNING else "none"


def _windows_base(rng: random.Random, machine: PlannedMachine) -> Inventory:
    software = [Software(*entry) for entry in rng.sample(WINDOWS_SOFTWARE, rng.randint(12, 17))]
    software += [Software(*entry) for entry in WINDOWS_CLOUD_SOFTWARE[machine.kind]]
    if rng.random() < 0.35:
        software.append(Software(*rng.choice(WINDOWS_DECOYS)))
    services = [
        Service(name, display, "Running" if start == "Auto" else "Stopped", start)
        for name, display, start in WINDOWS_SERVICES + WINDOWS_CLOUD_SERVICES[machine.kind]
    ]
    return Inventory(software, services)


def _linux_base(rng: random.Random, machine: PlannedMachine) -> Inventory:
    publisher = DISTRO_PUBLISHER.get(machine.os_key, "")
    rpm = machine.os.pkg in ("yum", "zypper")
    picked = rng.sample(LINUX_PACKAGES, rng.randint(13, 18)) + list(LINUX_CLOUD_PACKAGES[machine.kind])
    if rpm and rng.random() < 0.2:
        picked += list(LINUX_DECOYS)
    software = [
        Software(name, publisher, rpm_v if rpm else deb_v, section, summary)
        for name, deb_v, rpm_v, section, summary in picked
    ]
    daemons = LINUX_DAEMONS + LINUX_CLOUD_DAEMONS[machine.kind]
    return Inventory(software, [Service(name, name, "Running") for name in daemons])


def _add_windows_edr(inventory: Inventory, machine: PlannedMachine, state: str) -> None:
    """Add the EDR's programs and services. Server 2019+ always lists Sense: Manual and stopped if unused."""
    builtin_sense = not machine.os.downlevel
    product = EDR_PRODUCTS[machine.edr] if machine.edr and state != "none" else None
    if builtin_sense and (product is None or product.key != "mde"):
        inventory.services.append(Service(*SENSE_SERVICE, "Stopped", "Manual"))
    if product is None:
        return
    if product.key != "mde" or machine.os.downlevel:
        inventory.software += [Software(*entry) for entry in product.windows_software]
    if product.key.startswith("trellix"):
        inventory.software.append(Software(*WINDOWS_DECOYS[3]))  # ENS always comes with the ePO agent
        inventory.services.append(Service("masvc", "Trellix Agent Service", "Running"))
    service_state = "Running" if state == "running" else "Stopped"
    inventory.services += [Service(name, display, service_state, "Auto") for name, display in product.windows_services]


def _add_linux_edr(inventory: Inventory, machine: PlannedMachine, state: str) -> None:
    product = EDR_PRODUCTS[machine.edr]
    inventory.software += [
        Software(name, publisher, version, "misc", f"{name} agent")
        for name, version, publisher in product.linux_packages
    ]
    daemon_state = "Running" if state == "running" else "Stopped"
    inventory.services += [Service(name, name, daemon_state) for name in product.linux_daemons]


@dataclass(frozen=True)
class DemoContext:
    """What every record builder needs: the seed, the scopes and the snapshot date being generated."""

    seed: int
    topology: Topology
    snapshot_date: date

    def rng(self, machine: PlannedMachine, purpose: str) -> random.Random:
        """A date-independent stream for one purpose, so purposes do not share draws."""
        return rng_for(self.seed, machine.stream, purpose)

    def timing(self, machine: PlannedMachine, purpose: str) -> random.Random:
        """A date-dependent stream for one purpose (ages, ping times)."""
        return rng_for(self.seed, machine.stream, purpose, self.snapshot_date.isoformat())

    def inventory_time(self, machine: PlannedMachine) -> datetime:
        return inventory_time(self.seed, machine, self.snapshot_date)

    def power(self, machine: PlannedMachine) -> str:
        return machine.power_on(self.snapshot_date)


EXEMPT_TAG = "edrcov-exempt"
EXEMPT_UNTIL_TAG = "edrcov-exempt-until"
OWNER_TAG = "owner"


def exemption_until(ctx: DemoContext, machine: PlannedMachine) -> date:
    """A month end 3-14 months ahead, or two months back for the expired one: changes monthly, not daily.
    The renewed exemptions end 1-14 days ahead, and move two weeks on when they are renewed."""
    today = ctx.snapshot_date
    if machine.exemption_expired:
        return month_end(today.year, today.month - 2)
    if "renewed_exemption" in machine.flags:
        return renewed_until(ctx.seed, machine.index, today)
    return month_end(today.year, today.month + 3 + ctx.rng(machine, "exemption").randrange(12))


def machine_tags(ctx: DemoContext, machine: PlannedMachine, *, label_safe: bool = False) -> dict[str, str]:
    """Owner, environment and exemption tags; GCP labels only allow ``[a-z0-9_-]``, so reasons are slugs."""
    tags = {"env": machine.env}
    if machine.owner:
        tags[OWNER_TAG] = machine.owner
    if machine.exempt_reason:
        reason = machine.exempt_reason
        if label_safe:
            reason = next(slug for text, slug in EXEMPTION_REASONS if text == reason)
        tags[EXEMPT_TAG] = reason
        tags[EXEMPT_UNTIL_TAG] = exemption_until(ctx, machine).isoformat()
    return tags
