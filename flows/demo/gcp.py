"""GCP records of the demo estate, shaped like Cloud Asset ``ListAssets`` answers (camelCase JSON).

One call per content type: ``RESOURCE`` assets carry the Compute instance under ``resource.data``;
``OS_INVENTORY`` assets carry the OS Config inventory and exist only for VMs whose agent reports. The asset
name uses the project id, while ``ancestors`` and the inventory's own name use the project number.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from flows.demo.azure import ANCHOR, add_arc_mirror
from flows.demo.common import ago, gcp_local_ts, gcp_ts, hex_id
from flows.demo.inventory import DemoContext, Inventory, build_inventory, machine_tags
from flows.demo.pages import PageCollector
from flows.demo.plan import AWAITING_INVENTORY, PlannedMachine

COMPUTE = "https://www.googleapis.com/compute/v1"
MACHINE_TYPES = ("e2-medium", "e2-standard-2", "n2-standard-4", "n2d-standard-8", "c3-standard-4")
PACKAGE_KIND = {"apt": "aptPackage", "yum": "yumPackage", "zypper": "zypperPackage", "cos": "cosPackage"}
KERNELS = {
    "apt": "6.1.0-20-cloud-amd64",
    "yum": "5.14.0-362.24.1.el9_3.x86_64",
    "zypper": "5.14.21-150500.55.52",
    "cos": "6.1.75+",
    "windows": "10.0.17763.5696",
}
ORGANIZATION = "organizations/673763744309"


def _status(ctx: DemoContext, m: PlannedMachine) -> str:
    """A stopped VM is ``TERMINATED`` in GCP, not deleted."""
    bucket = ctx.power(m)
    pick = ctx.rng(m, "gcp-status")
    return {
        "running": "RUNNING",
        "stopped": "TERMINATED",
        "transitioning": pick.choice(("STOPPING", "PROVISIONING", "STAGING")),
        "odd": pick.choice(("SUSPENDED", "REPAIRING")),
    }[bucket]


def _created(ctx: DemoContext, m: PlannedMachine) -> datetime:
    if m.launched_at is not None:
        return m.launched_at
    moment = ANCHOR + timedelta(days=ctx.rng(m, "created").uniform(300, 1900))
    return min(moment, ago(ctx.snapshot_date, days=1))


def instance_asset(ctx: DemoContext, m: PlannedMachine) -> dict[str, Any]:
    """A ``RESOURCE`` asset: the Compute API instance under ``resource.data``, ids as strings."""
    rng = ctx.rng(m, "gcp")
    project = ctx.topology.gcp_project(m.project_id)
    status = _status(ctx, m)
    base = f"{COMPUTE}/projects/{m.project_id}"
    license_project, license_name = m.os.gcp[0], m.os.gcp[1]
    created = _created(ctx, m)
    started = ago(ctx.snapshot_date, days=ctx.timing(m, "start").uniform(6, 90))
    updated = ago(ctx.snapshot_date, days=ctx.timing(m, "asset").uniform(0.1, 20))
    if m.launched_at is not None:  # started when created (or since), changed since
        started = max(started, created + timedelta(seconds=40))
        updated = max(updated, started + timedelta(minutes=2))
    data: dict[str, Any] = {
        "id": m.native_id,
        "name": m.name,
        "description": "",
        "status": status,
        "zone": f"{base}/zones/{m.location}",
        "machineType": f"{base}/zones/{m.location}/machineTypes/{rng.choice(MACHINE_TYPES)}",
        "creationTimestamp": gcp_local_ts(created),
        "lastStartTimestamp": gcp_local_ts(started),
    }
    if status == "TERMINATED":
        data["lastStopTimestamp"] = gcp_local_ts(ago(ctx.snapshot_date, days=ctx.timing(m, "stop").uniform(1, 5)))
    data["labels"] = machine_tags(ctx, m, label_safe=True)
    data |= {
        "cpuPlatform": "Intel Cascade Lake",
        "deletionProtection": False,
        "canIpForward": False,
        "disks": [
            {
                "boot": True,
                "autoDelete": True,
                "deviceName": m.name,
                "diskSizeGb": "50",
                "index": 0,
                "interface": "SCSI",
                "licenses": [f"{COMPUTE}/projects/{license_project}/global/licenses/{license_name}"],
                "mode": "READ_WRITE",
                "type": "PERSISTENT",
                "source": f"{base}/zones/{m.location}/disks/{m.name}",
                "guestOsFeatures": [{"type": "UEFI_COMPATIBLE"}, {"type": "VIRTIO_SCSI_MULTIQUEUE"}],
            }
        ],
        "networkInterfaces": [
            {
                "name": "nic0",
                "networkIP": m.private_ip,
                "network": f"{base}/global/networks/default",
                "subnetwork": f"{base}/regions/{m.location[:-2]}/subnetworks/default",
                "fingerprint": f"{hex_id(rng, 11)}=",
            }
        ],
        "scheduling": {"automaticRestart": True, "onHostMaintenance": "MIGRATE", "preemptible": False},
        "serviceAccounts": [
            {
                "email": f"{project.number}-compute@developer.gserviceaccount.com",
                "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            }
        ],
        "selfLink": f"{base}/zones/{m.location}/instances/{m.name}",
        "shieldedInstanceConfig": {
            "enableIntegrityMonitoring": True,
            "enableSecureBoot": False,
            "enableVtpm": True,
        },
        "startRestricted": False,
        "fingerprint": f"{hex_id(rng, 11)}=",
        "labelFingerprint": f"{hex_id(rng, 11)}=",
        "tags": {"fingerprint": f"{hex_id(rng, 11)}="},
        "kind": "compute#instance",
    }
    return {
        "name": m.machine_id,
        "assetType": "compute.googleapis.com/Instance",
        "ancestors": [f"projects/{project.number}", ORGANIZATION],
        "updateTime": gcp_ts(updated),
        "resource": {
            "version": "v1",
            "discoveryDocumentUri": "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest",
            "discoveryName": "Instance",
            "parent": f"//cloudresourcemanager.googleapis.com/projects/{project.number}",
            "data": data,
            "location": m.location,
        },
    }


def has_os_inventory(m: PlannedMachine) -> bool:
    """VMs without the OS Config agent have no ``OS_INVENTORY`` asset at all."""
    return m.scenario not in ("no_inventory", AWAITING_INVENTORY)


def os_inventory_asset(ctx: DemoContext, m: PlannedMachine, inventory: Inventory) -> dict[str, Any]:
    """An ``OS_INVENTORY`` asset: OS details and installed packages, keyed by an opaque item id."""
    project = ctx.topology.gcp_project(m.project_id)
    when = ctx.inventory_time(m)
    long_name, short_name, version = m.os.gcp[2], m.os.gcp[3], m.os.gcp[4]
    pkg = m.os.pkg
    os_info = {
        "hostname": m.hostname,
        "longName": long_name,
        "shortName": short_name,
        "version": version,
        "architecture": "x86_64",
        "kernelRelease": KERNELS[pkg],
        "osconfigAgentVersion": "20240320.00-g1",
    }
    items = _windows_items(ctx, m, inventory, when) if pkg == "windows" else _package_items(m, inventory, when)
    return {
        "name": m.machine_id,
        "assetType": "compute.googleapis.com/Instance",
        "ancestors": [f"projects/{project.number}", ORGANIZATION],
        "updateTime": gcp_ts(when),
        "osInventory": {
            "name": f"projects/{project.number}/locations/{m.location}/instances/{m.native_id}/inventory",
            "osInfo": os_info,
            "items": items,
            "updateTime": gcp_ts(when),
        },
    }


def _item(
    item_id: str, kind: str, when: datetime, payload: dict[str, Any], *, installed: bool = True
) -> tuple[str, dict[str, Any]]:
    key = "installedPackage" if installed else "availablePackage"
    created, updated = _item_times(when)
    return item_id, {
        "id": item_id,
        "originType": "INVENTORY_REPORT",
        "createTime": created,
        "updateTime": updated,
        "type": "INSTALLED_PACKAGE" if installed else "AVAILABLE_PACKAGE",
        key: {kind: payload},
    }


@functools.lru_cache(maxsize=64)
def _item_times(when: datetime) -> tuple[str, str]:
    """Every item of one report shares its times: format them once."""
    return gcp_ts(when - timedelta(days=30)), gcp_ts(when)


def _package_items(m: PlannedMachine, inventory: Inventory, when: datetime) -> dict[str, Any]:
    kind = PACKAGE_KIND[m.os.pkg]
    arch = "amd64" if m.os.pkg == "apt" else "x86_64"
    pairs = [
        _item(
            f"installedPackage-{s.name}:{arch}:{s.version}",
            kind,
            when,
            {"packageName": s.name, "architecture": arch, "version": s.version},
        )
        for s in inventory.software
    ]
    for s in inventory.software[:2]:  # a couple of pending upgrades, which must not count as installed
        newer = f"{s.version}+upd1"
        pairs.append(
            _item(
                f"availablePackage-{s.name}:{arch}:{newer}",
                kind,
                when,
                {"packageName": s.name, "architecture": arch, "version": newer},
                installed=False,
            )
        )
    return dict(pairs)


def _windows_items(ctx: DemoContext, m: PlannedMachine, inventory: Inventory, when: datetime) -> dict[str, Any]:
    """Programs as ``windowsApplication`` (installDate is a {year, month, day} object), GooGet and KBs."""
    installed = ctx.rng(m, "installed")
    pairs = []
    for s in inventory.software:
        day = when - timedelta(days=installed.uniform(30, 400))
        pairs.append(
            _item(
                f"installedPackage-{s.name}:{s.version}",
                "windowsApplication",
                when,
                {
                    "displayName": s.name,
                    "displayVersion": s.version,
                    "publisher": s.publisher,
                    "installDate": {"year": day.year, "month": day.month, "day": day.day},
                },
            )
        )
    for name in ("googet", "google-compute-engine-windows", "google-osconfig-agent"):
        pairs.append(
            _item(
                f"installedPackage-{name}:x86_64:20240320.00@1",
                "googetPackage",
                when,
                {"packageName": name, "architecture": "x86_64", "version": "20240320.00@1"},
            )
        )
    for kb in ("KB5036896", "KB5037765"):
        pairs.append(
            _item(
                f"installedPackage-{kb}",
                "qfePackage",
                when,
                {
                    "caption": f"http://support.microsoft.com/?kbid={kb[2:]}",
                    "description": "Update",
                    "hotFixId": kb,
                    "installTime": gcp_ts(when - timedelta(days=20)),
                },
            )
        )
    return dict(pairs)


def add_gcp_machine(ctx: DemoContext, m: PlannedMachine, out: PageCollector) -> None:
    """The instance asset, its OS inventory when the agent reports, and its Arc projection if any."""
    out.add("gcp__compute_instances", m.scope, instance_asset(ctx, m))
    if has_os_inventory(m):
        out.add("gcp__os_inventories", m.scope, os_inventory_asset(ctx, m, build_inventory(ctx.seed, m)))
    if m.arc_resource_id:
        project = ctx.topology.gcp_project(m.project_id)
        tags = {
            "Cloud": "GCP",
            "InstanceName": m.name,
            "MDFCSecurityConnector": "true",
            "MachineId": m.native_id,
            "ProjectId": m.project_id,
            "ProjectNumber": project.number,
        }
        detected = {
            "cloudprovider": "GCP",
            "manufacturer": "Google",
            "model": "Google Compute Engine",
            "coreCount": "2",
            "logicalCoreCount": "4",
            "totalPhysicalMemoryInBytes": "17179869184",
            "totalPhysicalMemoryInGigabytes": "16",
        }
        fqdn = f"{m.name}.{m.location}.c.{m.project_id}.internal"
        add_arc_mirror(ctx, m, out, provider="GCP", tags=tags, detected=detected, fqdn=fqdn)
