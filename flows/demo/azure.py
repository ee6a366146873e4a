"""Azure records of the demo estate, shaped like Resource Graph rows and Log Analytics result rows.

Resource Graph returns whole rows: ``type`` and ``resourceGroup`` lower-cased, ``id`` in the casing the
resource was created with, empty columns as ``""`` or ``null``. Change Tracking rows are
``ConfigurationData`` rows (column name -> value) where an unused string column is ``""`` and
``_ResourceId`` is the lower-cased ARM id.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.demo.catalog import (
    AGENT_EXTENSIONS,
    DECOY_EXTENSIONS,
    EDR_PRODUCTS,
    FALCON_EXTENSION,
    MDE_EXTENSION,
)
from flows.demo.common import ago, azure_ts, guid, run_time
from flows.demo.evolution import plan_changed_at, servers_plan
from flows.demo.inventory import DemoContext, Inventory, build_inventory, machine_tags
from flows.demo.pages import PageCollector
from flows.demo.plan import CloudAccount, PlannedMachine, Subscription, Topology

VM_SIZES = ("Standard_D2s_v5", "Standard_D4s_v5", "Standard_B2ms", "Standard_E4s_v5", "Standard_F4s_v2")
POWER_CODES = {
    "running": ("PowerState/running", "VM running"),
    "deallocated": ("PowerState/deallocated", "VM deallocated"),
    "stopped": ("PowerState/stopped", "VM stopped"),
    "starting": ("PowerState/starting", "VM starting"),
    "stopping": ("PowerState/stopping", "VM stopping"),
    "deallocating": ("PowerState/deallocating", "VM deallocating"),
    "unknown": ("PowerState/unknown", "VM status unknown"),
}
EDR_INSTALLED_KEY = "06e3a6db-6c0c-4ad9-943f-31d9d73ecf6c"
EDR_INSTALLED_NAME = "EDR solution should be installed on Virtual Machines"
# The columns the connector's Change Tracking query projects (flows.sources.azure.CHANGE_TRACKING_COLUMNS).
CT_COLUMNS = (
    "_ResourceId",
    "Computer",
    "ConfigDataType",
    "SoftwareName",
    "SoftwareType",
    "Publisher",
    "CurrentVersion",
    "SvcName",
    "SvcDisplayName",
    "SvcState",
    "SvcStartupType",
    "TimeGenerated",
)
# Scenarios whose machines report Change Tracking rows (fresh or stale), with the share that does.
CT_SHARE = {
    "mde_extension": 0.85,
    "falcon_extension": 1.0,
    "third_party_inventory": 1.0,
    "edr_service_stopped": 1.0,
    "no_edr": 1.0,
    "exempt_no_edr": 1.0,
    "mde_extension_failed": 0.7,
    "stale_inventory": 1.0,
    "disconnected": 0.7,
}
HEALTHY_SCENARIOS = frozenset({"mde_extension", "falcon_extension", "third_party_inventory"})
ANCHOR = datetime(2019, 1, 1, tzinfo=UTC)


def arm_row(
    row_id: str,
    name: str,
    row_type: str,
    subscription_id: str,
    tenant_id: str,
    *,
    resource_group: str | None,
    location: str = "",
    tags: dict[str, str] | None = None,
    properties: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """A full Resource Graph row with every standard column, as an unprojected query returns it."""
    return {
        "id": row_id,
        "name": name,
        "type": row_type,
        "tenantId": tenant_id,
        "kind": extra.pop("kind", ""),
        "location": location,
        "resourceGroup": (resource_group or "").lower(),
        "subscriptionId": subscription_id,
        "managedBy": "",
        "sku": None,
        "plan": extra.pop("plan", None),
        "properties": properties,
        "tags": tags,
        "identity": extra.pop("identity", None),
        "zones": extra.pop("zones", None),
        "extendedLocation": None,
    }


def created_at(ctx: DemoContext, m: PlannedMachine) -> datetime:
    """Creation time: fixed per machine (2019-2023), never after the snapshot; a new machine's launch."""
    if m.launched_at is not None:
        return m.launched_at
    moment = ANCHOR + timedelta(days=ctx.rng(m, "created").uniform(0, 1800))
    return min(moment, ago(ctx.snapshot_date, days=1))


def _power_state(rng: random.Random, bucket: str) -> str | None:
    """Concrete Azure power state for a bucket; ``None`` means no instanceView at all."""
    options = {
        "running": ["running"],
        "stopped": ["deallocated", "deallocated", "deallocated", "stopped"],
        "transitioning": ["starting", "stopping", "deallocating"],
        "odd": ["unknown", None],
    }[bucket]
    return rng.choice(options)


def vm_record(ctx: DemoContext, m: PlannedMachine) -> dict[str, Any]:
    """``microsoft.compute/virtualmachines``; deallocated VMs report no guest OS details."""
    rng = ctx.rng(m, "vm")
    image = m.os.azure
    windows = m.family == "windows"
    sub_id = m.scope
    state = _power_state(ctx.rng(m, "power"), ctx.power(m))
    props: dict[str, Any] = {
        "vmId": m.native_id,
        "timeCreated": azure_ts(created_at(ctx, m)),
        "provisioningState": "Succeeded",
        "hardwareProfile": {"vmSize": rng.choice(VM_SIZES)},
        "networkProfile": {
            "networkInterfaces": [
                {
                    "id": f"{m.machine_id.rsplit('/providers/', 1)[0]}/providers/"
                    f"Microsoft.Network/networkInterfaces/{m.name}-nic"
                }
            ]
        },
        "osProfile": _os_profile(m, windows),
        "storageProfile": {
            "dataDisks": [],
            "imageReference": {
                "publisher": image[0],
                "offer": image[1],
                "sku": image[2],
                "version": "latest",
            },
            "osDisk": {
                "osType": "Windows" if windows else "Linux",
                "name": f"{m.name}_OsDisk_1",
                "createOption": "FromImage",
                "caching": "ReadWrite",
                "diskSizeGB": 127 if windows else 30,
                "managedDisk": {"storageAccountType": "Premium_LRS"},
            },
        },
    }
    if state is not None:
        props["extended"] = {"instanceView": _instance_view(m, state, image)}
    plan = {"name": image[2], "product": image[1], "publisher": image[0]} if m.os_key == "fortigate" else None
    return arm_row(
        m.machine_id,
        m.name,
        "microsoft.compute/virtualmachines",
        sub_id,
        ctx.topology.tenant_id,
        resource_group=m.resource_group,
        location=m.location,
        tags=machine_tags(ctx, m),
        properties=props,
        plan=plan,
        zones=[rng.choice("123")] if rng.random() < 0.3 else None,
    )


def _os_profile(m: PlannedMachine, windows: bool) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "computerName": m.hostname,
        "adminUsername": "azureadmin",
        "allowExtensionOperations": True,
        "requireGuestProvisionSignal": True,
        "secrets": [],
    }
    if windows:
        profile["windowsConfiguration"] = {
            "provisionVMAgent": True,
            "enableAutomaticUpdates": True,
            "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault"},
        }
    else:
        profile["linuxConfiguration"] = {
            "disablePasswordAuthentication": True,
            "provisionVMAgent": True,
            "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
        }
    return profile


def _instance_view(m: PlannedMachine, state: str, image: tuple[str, ...]) -> dict[str, Any]:
    code, display = POWER_CODES[state]
    view: dict[str, Any] = {"hyperVGeneration": "V2"}
    if state not in ("deallocated", "deallocating") and image[3]:  # no guest agent, no OS details
        view |= {"computerName": m.hostname, "osName": image[3], "osVersion": image[4]}
    view["powerState"] = {"code": code, "displayStatus": display, "level": "Info"}
    return view


def arc_record(
    ctx: DemoContext,
    m: PlannedMachine,
    *,
    arc_id: str,
    name: str,
    provider: str,
    tags: dict[str, str],
    detected: dict[str, str],
    fqdn: str,
) -> dict[str, Any]:
    """``microsoft.hybridcompute/machines``, for an on-premises server or a cloud VM Defender onboarded."""
    rng = ctx.rng(m, "arc")
    status, changed = _arc_status(ctx, m)
    os_sku, os_version = m.os.arc or (m.os.aws or m.os.gcp or ("", "", "", ""))[2:4]
    windows = m.family == "windows"
    props = {
        "provisioningState": "Succeeded",
        "status": status,
        "lastStatusChange": azure_ts(changed),
        "agentVersion": "1.41.02664.1629",
        "displayName": m.hostname,
        "machineFqdn": fqdn,
        "dnsFqdn": fqdn,
        "domainName": "corp.contoso.com" if provider == "N/A" else "WORKGROUP",
        "osName": m.family,
        "osType": m.family,
        "osVersion": os_version,
        "osSku": os_sku,
        "osEdition": "serverdatacenter" if windows else "",
        "vmId": m.arc_vm_id or m.native_id,
        "vmUuid": guid(rng).upper(),
        "osProfile": {"computerName": m.hostname},
        "cloudMetadata": {"provider": provider},
        "detectedProperties": detected,
        "mssqlDiscovered": "false",
        "agentConfiguration": {
            "extensionsEnabled": "true",
            "guestConfigurationEnabled": "true",
            "configMode": "full",
            "proxyUrl": "",
            "incomingConnectionsPorts": [],
            "proxyBypass": [],
        },
        "errorDetails": [],
    }
    sub_id = arc_id.split("/")[2]
    rg = arc_id.split("/")[4]
    return arm_row(
        arc_id,
        name,
        "microsoft.hybridcompute/machines",
        sub_id,
        ctx.topology.tenant_id,
        resource_group=rg,
        location=m.location if m.kind == "arc" else "eastus",
        tags=tags,
        properties=props,
        kind=None,
        identity={"type": "SystemAssigned", "principalId": guid(rng), "tenantId": ctx.topology.tenant_id},
    )


def _arc_status(ctx: DemoContext, m: PlannedMachine) -> tuple[str, datetime]:
    """Arc status follows the machine: Disconnected when off or stale, Expired after 45 days offline."""
    rng = ctx.timing(m, "arc-status")
    if m.scenario == "disconnected":
        days = rng.uniform(8, 80)
        return ("Expired" if days > 45 else "Disconnected"), ago(ctx.snapshot_date, days=days)
    power = ctx.power(m)
    if power == "stopped":
        return "Disconnected", ago(ctx.snapshot_date, days=rng.uniform(1, 5))
    if power == "odd" and m.kind == "arc":
        return "Error", ago(ctx.snapshot_date, hours=rng.uniform(1, 40))
    connected = ago(ctx.snapshot_date, days=rng.uniform(2, 60))
    if m.launched_at is not None:  # onboarded by Defender's connector after its launch
        connected = max(connected, m.launched_at + timedelta(hours=3))
    return "Connected", connected


def onprem_arc_record(ctx: DemoContext, m: PlannedMachine) -> dict[str, Any]:
    detected = {
        "cloudprovider": "N/A",
        "manufacturer": "VMware, Inc.",
        "model": "VMware7,1",
        "coreCount": "4",
        "logicalCoreCount": "8",
        "totalPhysicalMemoryInBytes": "17179869184",
        "totalPhysicalMemoryInGigabytes": "16",
    }
    fqdn = f"{m.hostname.lower()}.corp.contoso.com"
    return arc_record(
        ctx,
        m,
        arc_id=m.machine_id,
        name=m.name,
        provider="N/A",
        tags=machine_tags(ctx, m),
        detected=detected,
        fqdn=fqdn,
    )


def extension_record(
    ctx: DemoContext,
    machine_id: str,
    location: str,
    ext: tuple[str, str, str, str],
    *,
    arc: bool,
    state: str = "Succeeded",
) -> dict[str, Any]:
    """A VM or Arc extension row; the parent machine is the id before ``/extensions/``."""
    name, publisher, ext_type, version = ext
    props: dict[str, Any] = {
        "publisher": publisher,
        "type": ext_type,
        "typeHandlerVersion": version,
        "autoUpgradeMinorVersion": True,
        "provisioningState": state,
    }
    if publisher == MDE_EXTENSION["windows"][0]:
        props["settings"] = {"azureResourceId": machine_id, "forceReOnboarding": False}
    if arc:
        props["instanceView"] = {
            "name": name,
            "type": ext_type,
            "typeHandlerVersion": version,
            "status": _extension_status(state),
        }
    row_type = "microsoft.hybridcompute/machines/extensions" if arc else "microsoft.compute/virtualmachines/extensions"
    parts = machine_id.split("/")
    return arm_row(
        f"{machine_id}/extensions/{name}",
        name,
        row_type,
        parts[2],
        ctx.topology.tenant_id,
        resource_group=parts[4],
        location=location,
        properties=props,
    )


def _extension_status(state: str) -> dict[str, str]:
    if state == "Succeeded":
        return {
            "code": "success",
            "level": "Information",
            "displayStatus": "Provisioning succeeded",
            "message": "Extension Message: Onboarding to Microsoft Defender for Endpoint succeeded",
        }
    return {
        "code": "failed",
        "level": "Error",
        "displayStatus": "Provisioning failed",
        "message": "Extension Message: Failed to onboard to Microsoft Defender for Endpoint (exit code 51)",
    }


def mde_extension(
    ctx: DemoContext, m: PlannedMachine, machine_id: str, location: str, *, arc: bool, failed: bool
) -> dict[str, Any]:
    publisher, ext_type, version = MDE_EXTENSION[m.family]
    return extension_record(
        ctx,
        machine_id,
        location,
        (ext_type, publisher, ext_type, version),
        arc=arc,
        state="Failed" if failed else "Succeeded",
    )


def machine_extensions(ctx: DemoContext, m: PlannedMachine, has_ct: bool) -> list[dict[str, Any]]:
    """Monitoring agents where Change Tracking runs, the EDR extension the scenario wants, some decoys."""
    rng = ctx.rng(m, "extensions")
    arc = m.kind == "arc"
    rows = []
    if m.family in AGENT_EXTENSIONS and (has_ct or (m.scenario == "no_evidence" and rng.random() < 0.5)):
        rows += [extension_record(ctx, m.machine_id, m.location, ext, arc=arc) for ext in AGENT_EXTENSIONS[m.family]]
    if m.scenario in ("mde_extension", "mde_extension_failed"):
        rows.append(
            mde_extension(ctx, m, m.machine_id, m.location, arc=arc, failed=m.scenario == "mde_extension_failed")
        )
    if m.scenario == "falcon_extension":
        publisher, ext_type, version = FALCON_EXTENSION[m.family]
        rows.append(
            extension_record(
                ctx,
                m.machine_id,
                m.location,
                ("CrowdStrikeFalconSensor", publisher, ext_type, version),
                arc=arc,
            )
        )
    if m.family in DECOY_EXTENSIONS and rng.random() < 0.25:
        rows.append(extension_record(ctx, m.machine_id, m.location, rng.choice(DECOY_EXTENSIONS[m.family]), arc=arc))
    return rows


def has_change_tracking(ctx: DemoContext, m: PlannedMachine) -> bool:
    """A broken EDR does not stop the machine reporting; a new machine's image comes with the agent."""
    share = CT_SHARE.get(m.usual_scenario if m.phase == "broken" else m.scenario, 0.0)
    if m.generation is not None and share:
        return True
    return ctx.rng(m, "change-tracking").random() < share


def change_tracking_rows(ctx: DemoContext, m: PlannedMachine, inventory: Inventory) -> list[dict[str, Any]]:
    """``ConfigurationData`` rows as the connector's KQL projects them (``CT_COLUMNS``, unused strings ``""``).

    The connector reads them through the SDK, which turns ``TimeGenerated`` into a datetime that it lands
    as ``isoformat()`` text; a Windows machine reports services, a Linux one daemons (no display name).
    """
    when = ctx.inventory_time(m).isoformat()
    base = dict.fromkeys(CT_COLUMNS, "") | {
        "_ResourceId": m.machine_id.lower(),
        "Computer": m.hostname,
        "TimeGenerated": when,
    }
    windows = m.family == "windows"
    rows = [
        base
        | {
            "ConfigDataType": "Software",
            "SoftwareName": s.name,
            "Publisher": s.publisher,
            "CurrentVersion": s.version,
            "SoftwareType": "Application" if windows else "Package",
        }
        for s in inventory.software
    ]
    service_type = "WindowsServices" if windows else "Daemons"
    rows += [
        base
        | {
            "ConfigDataType": service_type,
            "SvcName": s.name,
            "SvcDisplayName": s.display if windows else "",
            "SvcState": s.state,
            "SvcStartupType": s.start if windows else "",
        }
        for s in inventory.services
    ]
    return rows


def change_tracking_order(row: dict[str, Any]) -> tuple[str, ...]:
    """The connector's ``order by _ResourceId, ConfigDataType, SoftwareName, SvcName``."""
    return (
        row.get("_ResourceId", ""),
        row.get("ConfigDataType", ""),
        row.get("SoftwareName", ""),
        row.get("SvcName", ""),
    )


def assessment_rows(ctx: DemoContext, m: PlannedMachine) -> list[dict[str, Any]]:
    """Defender's agentless EDR check (P2 subscriptions only), agreeing with the intended verdict."""
    rng = ctx.rng(m, "assessments")
    if ctx.topology.subscription(m.scope).plan != "P2" or rng.random() > 0.8:
        return []
    if _first_evaluation(ctx, m) >= run_time(ctx.snapshot_date):  # launched too recently to be scanned
        return []
    status = _edr_assessment_status(ctx, m)
    return [] if status is None else [_assessment(ctx, m, EDR_INSTALLED_KEY, EDR_INSTALLED_NAME, *status)]


def _edr_assessment_status(ctx: DemoContext, m: PlannedMachine) -> tuple[str, str, str] | None:
    """Healthy when Defender can see the EDR; Unhealthy when none; NotApplicable when it cannot scan."""
    if m.case == "not_applicable":
        return "NotApplicable", "", "This machine's operating system is not supported"
    if ctx.power(m) == "stopped":
        return "NotApplicable", "", "The machine is deallocated"
    if m.scenario in HEALTHY_SCENARIOS and m.edr and EDR_PRODUCTS[m.edr].discovered_by_defender:
        return "Healthy", "", ""
    if m.scenario in ("no_edr", "exempt_no_edr", "mde_extension_failed"):
        return "Unhealthy", "", "No EDR solution was found on the machine"
    return None


def _assessment(
    ctx: DemoContext, m: PlannedMachine, key: str, display: str, code: str, cause: str, description: str
) -> dict[str, Any]:
    rng = ctx.timing(m, f"assessment-{key}")
    first = _first_evaluation(ctx, m)
    changed = max(first, ago(ctx.snapshot_date, days=rng.uniform(1, 60)))
    props = {
        "displayName": display,
        "status": {
            "code": code,
            "cause": cause,
            "description": description,
            "firstEvaluationDate": azure_ts(first),
            "statusChangeDate": azure_ts(changed),
        },
        "resourceDetails": {
            "Source": "Azure",
            "Id": m.machine_id,
            "ResourceProvider": "Microsoft.Compute",
            "ResourceType": "virtualMachines",
            "ResourceName": m.name,
        },
        "additionalData": {},
        "links": {
            "azurePortal": f"portal.azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/assessmentKey/{key}"
        },
    }
    return arm_row(
        f"{m.machine_id}/providers/Microsoft.Security/assessments/{key}",
        key,
        "microsoft.security/assessments",
        m.scope,
        ctx.topology.tenant_id,
        resource_group=m.resource_group,
        properties=props,
    )


def _first_evaluation(ctx: DemoContext, m: PlannedMachine) -> datetime:
    """Defender first scanned the machine a month after its creation, or hours after a recent launch."""
    return created_at(ctx, m) + (timedelta(hours=6) if m.launched_at is not None else timedelta(days=30))


def add_azure_machine(ctx: DemoContext, m: PlannedMachine, out: PageCollector) -> None:
    """Every Azure record of one Azure VM or on-premises Arc server."""
    if m.kind == "azure_vm":
        out.add("azure__virtual_machines", m.scope, vm_record(ctx, m))
        for row in assessment_rows(ctx, m):
            out.add("azure__security_assessments", m.scope, row)
    else:
        out.add("azure__arc_machines", m.scope, onprem_arc_record(ctx, m))
    has_ct = has_change_tracking(ctx, m)
    for row in machine_extensions(ctx, m, has_ct):
        out.add("azure__machine_extensions", m.scope, row)
    if has_ct:
        workspace = ctx.topology.workspace_for(m.scope).customer_id
        for row in change_tracking_rows(ctx, m, build_inventory(ctx.seed, m)):
            out.add("azure__change_tracking", workspace, row)


# ---------------------------------------------------------------------------------------------------------
# Scope-level records: Defender plans and multicloud connectors


def pricing_rows(ctx: DemoContext, sub: Subscription) -> list[dict[str, Any]]:
    """The subscription's Defender plans: servers (P2 / P1 / Free, the P1 one on Plan 2 mid-week, see
    ``evolution.servers_plan``) plus a few others for realism."""
    plan = servers_plan(sub.plan, ctx.snapshot_date)
    enabled = azure_ts(plan_changed_at(sub.plan, ctx.snapshot_date) or ANCHOR + timedelta(days=1500))
    servers: dict[str, Any] = {"pricingTier": "Free", "freeTrialRemainingTime": "PT0S"}
    if plan != "Free":
        servers = {
            "pricingTier": "Standard",
            "subPlan": plan,
            "freeTrialRemainingTime": "PT0S",
            "enablementTime": enabled,
            "enforce": "False",
            "extensions": [{"name": "MdeDesignatedSubscription", "isEnabled": "False"}],
        }
        if plan == "P2":
            servers["extensions"].insert(
                0,
                {
                    "name": "AgentlessVmScanning",
                    "isEnabled": "True",
                    "additionalExtensionProperties": {"ExclusionTags": "[]"},
                },
            )
    others = {
        "CloudPosture": "Standard" if sub.plan == "P2" else "Free",
        "SqlServers": "Free",
        "StorageAccounts": "Standard" if sub.plan != "Free" else "Free",
    }
    rows = [_pricing(ctx, f"/subscriptions/{sub.id}", sub.id, "VirtualMachines", servers)]
    rows += [
        _pricing(
            ctx,
            f"/subscriptions/{sub.id}",
            sub.id,
            name,
            {"pricingTier": tier, "freeTrialRemainingTime": "PT0S"},
        )
        for name, tier in others.items()
    ]
    return rows


def resource_pricing_row(ctx: DemoContext, m: PlannedMachine) -> dict[str, Any]:
    """Defender for Servers switched off on one VM of a P1 subscription (resource-level pricing)."""
    props = {"pricingTier": "Free", "freeTrialRemainingTime": "PT0S", "inherited": "False"}
    return _pricing(ctx, m.machine_id, m.scope, "VirtualMachines", props, resource_group=m.resource_group)


def _pricing(
    ctx: DemoContext,
    scope_id: str,
    sub_id: str,
    name: str,
    props: dict[str, Any],
    *,
    resource_group: str | None = None,
) -> dict[str, Any]:
    return arm_row(
        f"{scope_id}/providers/Microsoft.Security/pricings/{name}",
        name,
        "microsoft.security/pricings",
        sub_id,
        ctx.topology.tenant_id,
        resource_group=resource_group,
        properties=props,
    )


def connector_rows(ctx: DemoContext) -> list[dict[str, Any]]:
    """Defender's AWS and GCP connectors: P2, P1 and a CSPM-only one for AWS; P2, P1 and none for GCP."""
    topo = ctx.topology
    rows = [_connector(ctx, topo, f"aws-{a.id}", _aws_connector_props(a)) for a in topo.aws_accounts]
    rows += [
        _connector(ctx, topo, f"gcp-{p.id}", _gcp_connector_props(p, string_sub_plan=p.plan == "P1"))
        for p in topo.gcp_projects
        if p.plan
    ]
    return rows


def _connector(ctx: DemoContext, topo: Topology, name: str, props: dict[str, Any]) -> dict[str, Any]:
    sub = topo.connector_subscription
    return arm_row(
        f"/subscriptions/{sub.id}/resourceGroups/{topo.connector_resource_group}/providers/"
        f"Microsoft.Security/securityConnectors/{name}",
        name,
        "microsoft.security/securityconnectors",
        sub.id,
        topo.tenant_id,
        resource_group=topo.connector_resource_group,
        location="centralus",
        tags={},
        properties=props,
    )


def _aws_connector_props(account: CloudAccount) -> dict[str, Any]:
    role = f"arn:aws:iam::{account.id}:role"
    offerings: list[dict[str, Any]] = [
        {
            "offeringType": "CspmMonitorAws",
            "nativeCloudConnection": {"cloudRoleArn": f"{role}/CspmMonitorAws"},
        }
    ]
    if account.plan:
        offerings.append(
            {
                "offeringType": "DefenderForServersAws",
                "defenderForServers": {"cloudRoleArn": f"{role}/DefenderForCloud-DefenderForServers"},
                "arcAutoProvisioning": {
                    "enabled": account.arc_auto_provisioning,
                    "cloudRoleArn": f"{role}/DefenderForCloud-ArcAutoProvisioning",
                    "configuration": {"proxy": None, "privateLinkScope": None},
                },
                "mdeAutoProvisioning": {"enabled": True, "configuration": {}},
                "vaAutoProvisioning": {"enabled": True, "configuration": {"type": "TVM"}},
                "subPlan": {"type": account.plan},
            }
        )
    return {
        "hierarchyIdentifier": account.id,
        "environmentName": "AWS",
        "environmentData": {
            "environmentType": "AwsAccount",
            "scanInterval": 4,
            "regions": list(account.locations),
        },
        "offerings": offerings,
    }


def _gcp_connector_props(project: CloudAccount, *, string_sub_plan: bool) -> dict[str, Any]:
    """``subPlan`` is an object in the API spec, but a plain string in some real responses: we emit both."""
    offering = {
        "offeringType": "DefenderForServersGcp",
        "defenderForServers": {
            "workloadIdentityProviderId": "defender-for-servers",
            "serviceAccountEmailAddress": f"microsoft-defender-for-servers@{project.id}.iam.gserviceaccount.com",
        },
        "arcAutoProvisioning": {"enabled": project.arc_auto_provisioning, "configuration": {}},
        "mdeAutoProvisioning": {"enabled": True, "configuration": {}},
        "subPlan": project.plan if string_sub_plan else {"type": project.plan},
    }
    return {
        "hierarchyIdentifier": project.number,
        "environmentName": "GCP",
        "environmentData": {
            "environmentType": "GcpProject",
            "projectDetails": {
                "projectId": project.id,
                "projectNumber": project.number,
                "workloadIdentityPoolId": "defender-pool",
            },
        },
        "offerings": [
            {
                "offeringType": "CspmMonitorGcp",
                "nativeCloudConnection": {
                    "workloadIdentityProviderId": "cspm",
                    "serviceAccountEmailAddress": f"microsoft-defender-cspm@{project.id}.iam.gserviceaccount.com",
                },
            },
            offering,
        ],
    }


def add_arc_mirror(
    ctx: DemoContext,
    m: PlannedMachine,
    out: PageCollector,
    *,
    provider: str,
    tags: dict[str, str],
    detected: dict[str, str],
    fqdn: str,
) -> None:
    """The Arc machine Defender's connector made for an EC2 / GCP VM, and its MDE extension."""
    if m.arc_resource_id is None:
        raise ValueError(f"machine {m.index} has no Arc projection")
    sub_id = ctx.topology.connector_subscription.id
    name = m.arc_resource_id.rsplit("/", 1)[1]
    out.add(
        "azure__arc_machines",
        sub_id,
        arc_record(
            ctx,
            m,
            arc_id=m.arc_resource_id,
            name=name,
            provider=provider,
            tags=tags,
            detected=detected,
            fqdn=fqdn,
        ),
    )
    out.add(
        "azure__machine_extensions",
        sub_id,
        mde_extension(ctx, m, m.arc_resource_id, "eastus", arc=True, failed=m.scenario == "arc_mde_failed"),
    )
