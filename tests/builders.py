"""API-shaped raw records for tests, one small builder per record type, and a helper that lands them.

The shapes follow the real APIs (see tests/data/* for full captured-style payloads): Resource Graph rows,
boto3 EC2/SSM responses, Cloud Asset assets. Builders only take what a test varies.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from flows.lake.writer import ExtractOutcome, Landing
from flows.settings import OutputSettings, Settings

SUB = "11111111-2222-3333-4444-555555555555"
ACCOUNT = "123456789012"
PROJECT = "shop-prod"
PROJECT_NUMBER = "998877665544"


def azure_vm(name: str, *, os_type: str = "Windows", os_name: str = "Windows Server 2019 Datacenter",
             power: str | None = "PowerState/running", tags: dict | None = None, sub: str = SUB) -> dict[str, Any]:
    rid = f"/subscriptions/{sub}/resourceGroups/RG-APP/providers/Microsoft.Compute/virtualMachines/{name}"
    view: dict[str, Any] = {"osName": os_name, "osVersion": "10.0"}
    if power:
        view["powerState"] = {"code": power, "level": "Info", "displayStatus": power.split("/")[1]}
    return {"id": rid, "name": name, "type": "microsoft.compute/virtualmachines", "subscriptionId": sub,
            "resourceGroup": "rg-app", "location": "westeurope", "tags": tags, "kind": "",
            "properties": {"vmId": f"vm-{name}", "provisioningState": "Succeeded",
                           "osProfile": {"computerName": name},
                           "storageProfile": {"osDisk": {"osType": os_type},
                                              "imageReference": {"publisher": "MicrosoftWindowsServer",
                                                                 "offer": "WindowsServer", "sku": "2019-datacenter"}},
                           "extended": {"instanceView": view}}}


def arc_machine(name: str, *, os_type: str = "linux", status: str = "Connected", tags: dict | None = None,
                provider: str = "N/A", sub: str = SUB) -> dict[str, Any]:
    rid = f"/subscriptions/{sub}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/{name}"
    return {"id": rid, "name": name, "type": "microsoft.hybridcompute/machines", "subscriptionId": sub,
            "resourceGroup": "rg-arc", "location": "westeurope", "tags": tags,
            "properties": {"status": status, "osType": os_type, "osName": os_type, "osSku": "Ubuntu 22.04",
                           "osVersion": "22.04", "machineFqdn": f"{name}.corp.example",
                           "cloudMetadata": {"provider": provider}, "vmId": f"arc-{name}"}}


def extension(machine: dict[str, Any], ext_type: str = "MDE.Windows", state: str = "Succeeded",
              publisher: str = "Microsoft.Azure.AzureDefenderForServers") -> dict[str, Any]:
    kind = machine["type"] + "/extensions"
    return {"id": f"{machine['id']}/extensions/{ext_type}", "name": ext_type, "type": kind,
            "subscriptionId": machine["subscriptionId"], "resourceGroup": machine["resourceGroup"],
            "location": machine["location"],
            "properties": {"publisher": publisher, "type": ext_type, "typeHandlerVersion": "1.0",
                           "provisioningState": state}}


def pricing(tier: str = "Standard", sub_plan: str | None = "P2", scope: str | None = None,
            sub: str = SUB) -> dict[str, Any]:
    scope = scope or f"/subscriptions/{sub}"
    props: dict[str, Any] = {"pricingTier": tier}
    if sub_plan:
        props["subPlan"] = sub_plan
    return {"id": f"{scope}/providers/Microsoft.Security/pricings/VirtualMachines", "name": "VirtualMachines",
            "type": "microsoft.security/pricings", "subscriptionId": sub, "properties": props}


def ct_row(machine: dict[str, Any], *, software: str | None = None, service: str | None = None,
           state: str = "Running", kind: str | None = None, when: str = "2026-11-27T22:00:00Z",
           start: str = "Auto") -> dict[str, Any]:
    data_type = kind or ("Software" if software else "WindowsServices")
    return {"_ResourceId": machine["id"].lower(), "Computer": machine["name"], "ConfigDataType": data_type,
            "SoftwareName": software or "", "SoftwareType": "Application" if software else "",
            "Publisher": "", "CurrentVersion": "1.0", "SvcName": service or "", "SvcDisplayName": service or "",
            "SvcState": state if service else "", "SvcStartupType": start if service else "",
            "TimeGenerated": when}


def ec2_instance(instance_id: str, *, state: str = "running", platform: str | None = None,
                 tags: dict | None = None, name: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "InstanceId": instance_id, "InstanceType": "m5.large", "ImageId": "ami-0abcdef1234567890",
        "State": {"Code": {"running": 16, "stopped": 80, "terminated": 48}.get(state, 0), "Name": state},
        "LaunchTime": "2026-11-20T08:00:00+00:00", "PrivateDnsName": f"ip-10-0-0-{instance_id[-2:]}.ec2.internal",
        "PrivateIpAddress": "10.0.0.10", "StateTransitionReason": "",
        "PlatformDetails": "Windows" if platform == "windows" else "Linux/UNIX",
    }
    if platform:
        record["Platform"] = platform
    all_tags = {"Name": name or instance_id, **(tags or {})}
    record["Tags"] = [{"Key": k, "Value": v} for k, v in all_tags.items()]
    return record


def ssm_info(instance_id: str, *, ping: str = "Online", platform: str = "Linux",
             name: str = "Ubuntu") -> dict[str, Any]:
    return {"InstanceId": instance_id, "PingStatus": ping, "LastPingDateTime": "2026-11-27T23:00:00+00:00",
            "AgentVersion": "3.3.0.0", "PlatformType": platform, "PlatformName": name, "PlatformVersion": "22.04",
            "ResourceType": "EC2Instance", "ComputerName": f"{instance_id}.ec2.internal", "IPAddress": "10.0.0.10"}


def gcp_instance(name: str, *, status: str = "RUNNING", instance_id: str = "4242",
                 license: str = "ubuntu-2204-lts", labels: dict | None = None) -> dict[str, Any]:
    return {"name": f"//compute.googleapis.com/projects/{PROJECT}/zones/europe-west1-b/instances/{name}",
            "assetType": "compute.googleapis.com/Instance", "ancestors": [f"projects/{PROJECT_NUMBER}"],
            "updateTime": "2026-11-27T20:00:00Z",
            "resource": {"version": "v1", "parent": f"//cloudresourcemanager.googleapis.com/projects/{PROJECT_NUMBER}",
                         "data": {"id": instance_id, "name": name, "status": status, "labels": labels or {},
                                  "zone": f"https://www.googleapis.com/compute/v1/projects/{PROJECT}/zones/europe-west1-b",
                                  "disks": [{"boot": True, "licenses": [
                                      f"https://www.googleapis.com/compute/v1/projects/ubuntu-os-cloud/global/licenses/{license}"]}],
                                  "creationTimestamp": "2026-01-01T00:00:00.000-07:00"}}}


def gcp_inventory(instance: dict[str, Any], packages: list[str], *, updated: str = "2026-11-27T21:00:00Z",
                  short_name: str = "ubuntu") -> dict[str, Any]:
    items = {f"installedPackage-{p}": {"id": f"installedPackage-{p}", "type": "INSTALLED_PACKAGE",
                                       "installedPackage": {"aptPackage": {"packageName": p, "version": "1.0"}}}
             for p in packages}
    return {"name": instance["name"], "assetType": "compute.googleapis.com/Instance",
            "osInventory": {"osInfo": {"shortName": short_name, "longName": "Ubuntu 22.04 LTS",
                                       "hostname": instance["resource"]["data"]["name"]},
                            "items": items, "updateTime": updated}}


def land(tmp_path: Path, records: dict[str, list[tuple[dict, dict]]], snapshot: date = date(2026, 11, 28),
         failed: list[tuple[str, str, str]] = (), settings: Settings | None = None) -> Settings:
    """Land {dataset: [(record, context), ...]} as one snapshot (extracted at 02:00 UTC that night) and
    return settings pointing at it."""
    settings = settings or Settings(output=OutputSettings(data_dir=tmp_path / "data"))
    at = datetime.combine(snapshot, time(2, 0), tzinfo=UTC)
    landing = Landing(settings.output.lake_dir, snapshot, extracted_at=at)
    for dataset, items in records.items():
        with landing.writer(dataset, "test") as writer:
            for record, context in items:
                writer.write(record, **context)
    for cloud, scope, dataset in failed:
        landing.record(ExtractOutcome(source=cloud, cloud=cloud, scope=scope, dataset=dataset, status="failed",
                                      error_class="AccessDenied", error_message="denied"))
    landing.commit()
    return settings
