"""One ``SELECT`` per raw dataset (or part of one) over the machine plan: the typed columns the connectors'
extractors produce and ``raw_json``, the record in the API's JSON shape.

Each typed column is what ``DATASETS[name].extract`` returns for that ``raw_json`` (timestamps cut to the
precision the API's text carries, ``*_json`` columns as ``json.dumps(..., sort_keys=True)``), so the lake
cannot tell these rows from the connectors'. Record shapes are the per-record demo's (``flows.demo.azure``,
``.aws``, ``.gcp``), written as JSON templates (``scale_sql.json_sql``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flows.demo.aws import INSTANCE_TYPES, START_TYPES
from flows.demo.azure import ANCHOR, EDR_INSTALLED_KEY, EDR_INSTALLED_NAME, POWER_CODES, VM_SIZES
from flows.demo.catalog import EDR_PRODUCTS, EXEMPTION_REASONS, MDE_EXTENSION, OS_IMAGES
from flows.demo.gcp import COMPUTE, KERNELS, MACHINE_TYPES, ORGANIZATION, PACKAGE_KIND
from flows.demo.inventory import EXEMPT_TAG, EXEMPT_UNTIL_TAG, OWNER_TAG
from flows.demo.scale_inventory import (
    ARC_SKU,
    ARC_VERSION,
    EXTENSION_RULE,
    EXTENSION_STATE,
    EXTENSIONS,
    GCP_PKG_IDX,
    SERVICE_ITEM,
    SERVICE_RULE,
    SERVICES,
    SOFTWARE,
    SOFTWARE_ITEM,
    SOFTWARE_RULE,
    gcp_fragments,
    gcp_ids,
    join,
    os_field,
)
from flows.demo.scale_plan import SOURCE_FAILED, ScaleTopology
from flows.demo.scale_sql import N, Opt, R, S, assert_json_safe, case, choose, duck_type, in_list, json_sql, lit
from flows.lake.datasets import DATASETS

HEALTHY_SCENARIOS = ("mde_extension", "falcon_extension", "third_party_inventory")
DISCOVERED = sorted(k for k, p in EDR_PRODUCTS.items() if p.discovered_by_defender)
assert_json_safe([t for pair in EXEMPTION_REASONS for t in pair])
assert_json_safe([v for im in OS_IMAGES for t in (im.azure, im.arc, im.aws, im.gcp) if t for v in t])


@dataclass(frozen=True)
class Part:
    """One file of one dataset: the rows of ``source`` (a subquery aliased ``m``), typed and serialised."""

    dataset: str
    label: str
    source: str
    columns: dict[str, str]  # typed column (and ``scope``) -> SQL expression over ``m``
    raw_json: str

    def select(self, run_id: str, extracted_at: datetime) -> str:
        """The final SELECT: every registered column in registry order, cast to its registered type."""
        schema = DATASETS[self.dataset].schema
        expected = set(schema.names) - {"run_id", "extracted_at", "raw_json"}
        if set(self.columns) != expected:
            raise ValueError(f"{self.dataset}: columns differ from the registry: missing "
                             f"{sorted(expected - set(self.columns))}, extra {sorted(set(self.columns) - expected)}")
        values = {**self.columns, "run_id": lit(run_id), "extracted_at": lit(extracted_at),
                  "raw_json": self.raw_json}
        items = [f'CAST({values[f.name]} AS {duck_type(f.type)}) AS "{f.name}"' for f in schema]
        return "SELECT " + ",\n    ".join(items) + f"\nFROM {self.source}"


@dataclass(frozen=True)
class Context:
    seed: int
    topo: ScaleTopology
    snapshot_date: date
    run_at: datetime
    plan: str  # the table holding the plan of the machines being generated

    @property
    def tenant(self) -> str:
        return self.topo.base.tenant_id

    def timing(self, salt: str) -> str:
        """A date-dependent draw (ages, ping times), like the demo's ``DemoContext.timing``."""
        return f"u(i, {lit(salt + ':' + self.snapshot_date.isoformat())})"

    def rows(self, where: str, *derived: str) -> str:
        """Plan rows matching ``where`` with extra columns, each stage of ``derived`` over the previous."""
        sql = f"(SELECT * FROM {self.plan} WHERE {where})"
        for stage in derived:
            sql = f"(SELECT *, {stage} FROM {sql})"
        return sql


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def arm_row(row_id: str, name: str, row_type: str, subscription: str, tenant: str, *, resource_group: str,
            properties: Any, location: Any = "", tags: Any = None, kind: Any = "", plan: Any = None,
            identity: Any = None, zones: Any = None) -> dict[str, Any]:
    """A full Resource Graph row (``flows.demo.azure.arm_row``); ids and names are SQL expressions."""
    return {
        "id": S(row_id), "name": S(name), "type": row_type, "tenantId": tenant, "kind": kind, "location": location,
        "resourceGroup": S(f"lower(coalesce({resource_group}, ''))"), "subscriptionId": S(subscription),
        "managedBy": "", "sku": None, "plan": plan, "properties": properties, "tags": tags, "identity": identity,
        "zones": zones, "extendedLocation": None,
    }


def machine_tags(*, label_safe: bool = False) -> dict[str, Any]:
    """``machine_tags``: env, owner and the exemption tags (GCP labels only take slugs)."""
    reasons = lit([slug if label_safe else text for text, slug in EXEMPTION_REASONS])
    return {
        "env": S("env"),
        OWNER_TAG: Opt("owner IS NOT NULL", S("owner")),
        EXEMPT_TAG: Opt("exempt_idx IS NOT NULL", S(f"{reasons}[exempt_idx]")),
        EXEMPT_UNTIL_TAG: Opt("exempt_idx IS NOT NULL", S("strftime(exempt_until, '%Y-%m-%d')")),
    }


def _created(low: float, high: float, salt: str = "created") -> str:
    """A creation / launch time fixed per machine, never after the day before the snapshot."""
    return (f"least(TIMESTAMPTZ '{ANCHOR.isoformat()}' + to_microseconds(CAST(uniform(u(i, {lit(salt)}), "
            f"{low}, {high}) * 86400000000 AS BIGINT)), ago_days(1))")


# ---------------------------------------------------------------------------------------------------------
# Azure


def virtual_machines(ctx: Context) -> Part:
    state = case("power", {
        "running": "'running'",
        "stopped": "['deallocated', 'deallocated', 'deallocated', 'stopped'][1 + hk(i, 'power-state', 4)]",
        "transitioning": "['starting', 'stopping', 'deallocating'][1 + hk(i, 'power-state', 3)]",
    }, "['unknown', NULL][1 + hk(i, 'power-state', 2)]")
    az = {name: os_field(lambda im, n=n: (im.azure or ("",) * 5)[n])
          for n, name in enumerate(("az_publisher", "az_offer", "az_sku", "az_os_name", "az_os_version"))}
    source = ctx.rows(
        "kind = 'azure_vm'",
        f"{state} AS power_state, {_created(0, 1800)} AS created, family = 'windows' AS windows, "
        + ", ".join(f"{expr} AS {name}" for name, expr in az.items()),
        "power_state IS NOT NULL AND power_state NOT IN ('deallocated', 'deallocating') AND az_os_name <> '' "
        "AS shows_os, 'PowerState/' || power_state AS power_code, "
        f"{case('power_state', {k: lit(v[1]) for k, v in POWER_CODES.items()})} AS power_display",
    ) + " AS m"
    profile = {"computerName": S("hostname"), "adminUsername": "azureadmin", "allowExtensionOperations": True,
               "requireGuestProvisionSignal": True, "secrets": []}
    windows_cfg = {"provisionVMAgent": True, "enableAutomaticUpdates": True,
                   "patchSettings": {"patchMode": "AutomaticByOS", "assessmentMode": "ImageDefault"}}
    linux_cfg = {"disablePasswordAuthentication": True, "provisionVMAgent": True,
                 "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"}}
    os_profile = {**profile, "windowsConfiguration": Opt("windows", windows_cfg),
                  "linuxConfiguration": Opt("NOT windows", linux_cfg)}
    instance_view = {
        "hyperVGeneration": "V2",
        "computerName": Opt("shows_os", S("hostname")),
        "osName": Opt("shows_os", S("az_os_name")),
        "osVersion": Opt("shows_os", S("az_os_version")),
        "powerState": {"code": S("power_code"), "displayStatus": S("power_display"), "level": "Info"},
    }
    nic = ("'/subscriptions/' || subscription_id || '/resourceGroups/' || resource_group "
           "|| '/providers/Microsoft.Network/networkInterfaces/' || resource_name || '-nic'")
    properties = {
        "vmId": S("native_id"),
        "timeCreated": S("azure_ts(created)"),
        "provisioningState": "Succeeded",
        "hardwareProfile": {"vmSize": S(choose("u(i, 'vm-size')", VM_SIZES))},
        "networkProfile": {"networkInterfaces": [{"id": S(nic)}]},
        "osProfile": os_profile,
        "storageProfile": {
            "dataDisks": [],
            "imageReference": {"publisher": S("az_publisher"), "offer": S("az_offer"), "sku": S("az_sku"),
                               "version": "latest"},
            "osDisk": {"osType": S("CASE WHEN windows THEN 'Windows' ELSE 'Linux' END"),
                       "name": S("resource_name || '_OsDisk_1'"), "createOption": "FromImage",
                       "caching": "ReadWrite", "diskSizeGB": N("CASE WHEN windows THEN 127 ELSE 30 END"),
                       "managedDisk": {"storageAccountType": "Premium_LRS"}},
        },
        "extended": Opt("power_state IS NOT NULL", {"instanceView": instance_view}),
    }
    fortigate = "os_key = 'fortigate'"
    raw = arm_row(
        "machine_id", "resource_name", "microsoft.compute/virtualmachines", "subscription_id", ctx.tenant,
        resource_group="resource_group", location=S("location"), tags=machine_tags(), properties=properties,
        plan=R(f"CASE WHEN {fortigate} THEN "
               + json_sql({"name": S("az_sku"), "product": S("az_offer"), "publisher": S("az_publisher")}) + " END",
               nullable=True),
        zones=R(f"CASE WHEN u(i, 'zones') < 0.3 THEN '[\"' || {choose('u(i, {})'.format(lit('zone-pick')), '123')} "
                "|| '\"]' END", nullable=True),
    )
    return Part("azure__virtual_machines", "vms", source, {
        "resource_id": "lower(machine_id)", "name": "resource_name", "subscription_id": "lower(subscription_id)",
        "resource_group": "lower(resource_group)", "location": "location",
        "tags_json": json_sql(machine_tags(), python_style=True), "vm_id": "native_id", "computer_name": "hostname",
        "os_type": "CASE WHEN windows THEN 'Windows' ELSE 'Linux' END",
        "os_name": "CASE WHEN shows_os THEN az_os_name END",
        "os_version": "CASE WHEN shows_os THEN az_os_version END",
        "image_publisher": "az_publisher", "image_offer": "az_offer", "image_sku": "az_sku",
        "power_state_code": "power_code", "provisioning_state": "'Succeeded'", "time_created": "created",
        "scope": "scope",
    }, json_sql(raw))


def _arc_status(ctx: Context) -> str:
    """Arc status and its change time (the demo's ``_arc_status``): Disconnected when off or stale,
    Expired after 45 days offline."""
    point = ctx.timing("arc-status")
    return f"""CASE
            WHEN scenario = 'disconnected' THEN {{'status': CASE WHEN uniform({point}, 8, 80) > 45 THEN 'Expired'
                ELSE 'Disconnected' END, 'at': ago_days(uniform({point}, 8, 80))}}
            WHEN power = 'stopped' THEN {{'status': 'Disconnected', 'at': ago_days(uniform({point}, 1, 5))}}
            WHEN power = 'odd' AND kind = 'arc' THEN {{'status': 'Error', 'at': ago_hours(uniform({point}, 1, 40))}}
            ELSE {{'status': 'Connected', 'at': ago_days(uniform({point}, 2, 60))}} END AS arc_status"""


def _arc_part(ctx: Context, label: str, where: str, fields: str, tags: dict[str, Any],
              detected: dict[str, Any]) -> Part:
    """An Arc machine row (``flows.demo.azure.arc_record``) from per-row ``fields``: arc_id, arc_name,
    arc_sub, arc_rg, arc_location, provider, fqdn, arc_vm."""
    source = ctx.rows(where, fields, _arc_status(ctx)) + " AS m"
    properties = {
        "provisioningState": "Succeeded", "status": S("arc_status.status"),
        "lastStatusChange": S("azure_ts(arc_status.at)"), "agentVersion": "1.41.02664.1629",
        "displayName": S("hostname"), "machineFqdn": S("fqdn"), "dnsFqdn": S("fqdn"),
        "domainName": S("CASE WHEN provider = 'N/A' THEN 'corp.contoso.com' ELSE 'WORKGROUP' END"),
        "osName": S("family"), "osType": S("family"), "osVersion": S(ARC_VERSION), "osSku": S(ARC_SKU),
        "osEdition": S("CASE WHEN family = 'windows' THEN 'serverdatacenter' ELSE '' END"),
        "vmId": S("arc_vm"), "vmUuid": S("upper(guid(i, 'vm-uuid'))"), "osProfile": {"computerName": S("hostname")},
        "cloudMetadata": {"provider": S("provider")}, "detectedProperties": detected, "mssqlDiscovered": "false",
        "agentConfiguration": {"extensionsEnabled": "true", "guestConfigurationEnabled": "true", "configMode": "full",
                               "proxyUrl": "", "incomingConnectionsPorts": [], "proxyBypass": []},
        "errorDetails": [],
    }
    identity = {"type": "SystemAssigned", "principalId": S("guid(i, 'arc-principal')"), "tenantId": ctx.tenant}
    raw = arm_row("arc_id", "arc_name", "microsoft.hybridcompute/machines", "arc_sub", ctx.tenant,
                  resource_group="arc_rg", location=S("arc_location"), tags=tags, properties=properties, kind=None,
                  identity=identity)
    return Part("azure__arc_machines", label, source, {
        "resource_id": "lower(arc_id)", "name": "arc_name", "subscription_id": "lower(arc_sub)",
        "resource_group": "lower(arc_rg)", "location": "arc_location",
        "tags_json": json_sql(tags, python_style=True), "vm_id": "arc_vm", "status": "arc_status.status",
        "os_type": "family", "os_name": "family", "os_version": ARC_VERSION, "os_sku": ARC_SKU, "machine_fqdn": "fqdn",
        "agent_version": "'1.41.02664.1629'", "last_status_change": "arc_status.at", "cloud_provider": "provider",
        "detected_properties_json": json_sql(detected, python_style=True), "scope": "arc_sub",
    }, json_sql(raw))


def _private_dns() -> str:
    return ("'ip-' || replace(private_ip, '.', '-') || CASE WHEN location = 'us-east-1' THEN '.ec2.internal' "
            "ELSE '.' || location || '.compute.internal' END")


def _instance_type() -> str:
    return f"{lit(list(INSTANCE_TYPES))}[1 + hk(i, 'instance-type', {len(INSTANCE_TYPES)})]"


def arc_machines(ctx: Context) -> list[Part]:
    """On-premises Arc servers, and the Arc machines Defender's connectors made for EC2 / GCP VMs."""
    onprem = _arc_part(
        ctx, "arc-onprem", "kind = 'arc'",
        "machine_id AS arc_id, resource_name AS arc_name, subscription_id AS arc_sub, resource_group AS arc_rg, "
        "location AS arc_location, 'N/A' AS provider, lower(hostname) || '.corp.contoso.com' AS fqdn, "
        "native_id AS arc_vm",
        machine_tags(),
        {"cloudprovider": "N/A", "manufacturer": "VMware, Inc.", "model": "VMware7,1", "coreCount": "4",
         "logicalCoreCount": "8", "totalPhysicalMemoryInBytes": "17179869184",
         "totalPhysicalMemoryInGigabytes": "16"})
    mirror_fields = (f"arc_resource_id AS arc_id, split_part(arc_resource_id, '/', -1) AS arc_name, "
                     f"{lit(ctx.topo.base.connector_subscription.id)} AS arc_sub, "
                     f"{lit(ctx.topo.base.connector_resource_group)} AS arc_rg, 'eastus' AS arc_location, "
                     "arc_vm_id AS arc_vm")
    ec2 = _arc_part(
        ctx, "arc-ec2", "kind = 'ec2' AND mirrored",
        f"{mirror_fields}, 'AWS' AS provider, CASE WHEN family = 'windows' THEN hostname ELSE {_private_dns()} END "
        "AS fqdn",
        {"AccountId": S("account_id"), "Cloud": "AWS", "InstanceId": S("native_id"), "MDFCSecurityConnector": "true"},
        {"cloudprovider": "AWS", "manufacturer": "Amazon EC2", "model": S(_instance_type()), "coreCount": "1",
         "logicalCoreCount": "2", "totalPhysicalMemoryInBytes": "8589934592", "totalPhysicalMemoryInGigabytes": "8"})
    gcp = _arc_part(
        ctx, "arc-gcp", "kind = 'gcp_vm' AND mirrored",
        f"{mirror_fields}, 'GCP' AS provider, name || '.' || zone || '.c.' || project_id || '.internal' AS fqdn",
        {"Cloud": "GCP", "InstanceName": S("name"), "MDFCSecurityConnector": "true", "MachineId": S("native_id"),
         "ProjectId": S("project_id"), "ProjectNumber": S("project_number")},
        {"cloudprovider": "GCP", "manufacturer": "Google", "model": "Google Compute Engine", "coreCount": "2",
         "logicalCoreCount": "4", "totalPhysicalMemoryInBytes": "17179869184", "totalPhysicalMemoryInGigabytes": "16"})
    return [onprem, ec2, gcp]


def _extension_part(ctx: Context, label: str, source: str) -> Part:
    """Extension rows from ``source`` rows with ``ext_name, ext_publisher, ext_type, ext_version, ext_state``,
    ``parent`` (the machine id), ``arc``, ``ext_location`` and ``ext_sub``."""
    succeeded = {"code": "success", "level": "Information", "displayStatus": "Provisioning succeeded",
                 "message": "Extension Message: Onboarding to Microsoft Defender for Endpoint succeeded"}
    failed = {"code": "failed", "level": "Error", "displayStatus": "Provisioning failed",
              "message": "Extension Message: Failed to onboard to Microsoft Defender for Endpoint (exit code 51)"}
    properties = {
        "publisher": S("ext_publisher"), "type": S("ext_type"), "typeHandlerVersion": S("ext_version"),
        "autoUpgradeMinorVersion": True, "provisioningState": S("ext_state"),
        "settings": Opt(f"ext_publisher = {lit(MDE_EXTENSION['windows'][0])}",
                        {"azureResourceId": S("parent"), "forceReOnboarding": False}),
        "instanceView": Opt("arc", {
            "name": S("ext_name"), "type": S("ext_type"), "typeHandlerVersion": S("ext_version"),
            "status": R(f"CASE WHEN ext_state = 'Succeeded' THEN {lit(compact(succeeded))} "
                        f"ELSE {lit(compact(failed))} END")}),
    }
    ext_type = ("CASE WHEN arc THEN 'microsoft.hybridcompute/machines/extensions' "
                "ELSE 'microsoft.compute/virtualmachines/extensions' END")
    ext_id = "parent || '/extensions/' || ext_name"
    raw = {"id": S(ext_id), "name": S("ext_name"), "type": S(ext_type), "tenantId": ctx.tenant, "kind": "",
           "location": S("ext_location"), "resourceGroup": S("parent_rg"),
           "subscriptionId": S("ext_sub"), "managedBy": "", "sku": None, "plan": None, "properties": properties,
           "tags": None, "identity": None, "zones": None, "extendedLocation": None}
    return Part("azure__machine_extensions", label, source, {
        "resource_id": "parent_lc || '/extensions/' || lower(ext_name)", "machine_resource_id": "parent_lc",
        "name": "ext_name",
        "resource_type": ext_type, "subscription_id": "lower(ext_sub)", "publisher": "ext_publisher",
        "extension_type": "ext_type", "type_handler_version": "ext_version", "provisioning_state": "ext_state",
        "scope": "ext_sub",
    }, json_sql(raw))


def machine_extensions(ctx: Context) -> list[Part]:
    own = join(ctx.rows(f"kind IN ('azure_vm', 'arc') AND scenario <> '{SOURCE_FAILED}'",
                        "machine_id AS parent, lower(machine_id) AS parent_lc, lower(resource_group) AS parent_rg, "
                        "kind = 'arc' AS arc, location AS ext_location, subscription_id AS ext_sub"),
               EXTENSIONS, EXTENSION_RULE, family="family")
    own = (f"(SELECT *, x.v_name AS ext_name, x.v_publisher AS ext_publisher, x.v_type AS ext_type, "
           f"x.v_version AS ext_version, {EXTENSION_STATE} AS ext_state FROM {own} AS x) AS m")
    mde = {f: (t, p, t, v) for f, (p, t, v) in MDE_EXTENSION.items()}
    fields = ", ".join(
        f"{case('family', {f: lit(e[n]) for f, e in mde.items()})} AS {name}"
        for n, name in enumerate(("ext_name", "ext_publisher", "ext_type", "ext_version")))
    mirrors = ctx.rows(
        "mirrored", f"{fields}, CASE WHEN scenario = 'arc_mde_failed' THEN 'Failed' ELSE 'Succeeded' END AS ext_state, "
        "arc_resource_id AS parent, lower(arc_resource_id) AS parent_lc, "
        f"{lit(ctx.topo.base.connector_resource_group.lower())} AS parent_rg, TRUE AS arc, 'eastus' AS ext_location, "
        f"{lit(ctx.topo.base.connector_subscription.id)} AS ext_sub") + " AS m"
    return [_extension_part(ctx, "extensions", own), _extension_part(ctx, "extensions-arc", mirrors)]


def security_assessments(ctx: Context) -> Part:
    """Defender's agentless EDR check on P2 subscriptions' VMs (80% assessed), agreeing with the verdict."""
    status = f"""CASE
        WHEN intent = 'not_applicable' THEN {{'code': 'NotApplicable',
            'description': 'This machine''s operating system is not supported'}}
        WHEN power = 'stopped' THEN {{'code': 'NotApplicable', 'description': 'The machine is deallocated'}}
        WHEN {in_list('scenario', HEALTHY_SCENARIOS)} AND {in_list('edr', DISCOVERED)}
            THEN {{'code': 'Healthy', 'description': ''}}
        WHEN scenario IN ('no_edr', 'exempt_no_edr', 'mde_extension_failed')
            THEN {{'code': 'Unhealthy', 'description': 'No EDR solution was found on the machine'}}
        END AS status"""
    source = ctx.rows(
        "kind = 'azure_vm' AND subscription_plan = 'P2' AND u(i, 'assessments') <= 0.8",
        f"{status}, {_created(0, 1800)} + INTERVAL 30 DAY AS first_evaluated",
        f"greatest(first_evaluated, ago_days(uniform({ctx.timing('assessment')}, 1, 60))) AS changed",
    ) + " AS m WHERE status IS NOT NULL"
    assessment_id = f"machine_id || '/providers/Microsoft.Security/assessments/' || {lit(EDR_INSTALLED_KEY)}"
    properties = {
        "displayName": EDR_INSTALLED_NAME,
        "status": {"code": S("status.code"), "cause": "", "description": S("status.description"),
                   "firstEvaluationDate": S("azure_ts(first_evaluated)"), "statusChangeDate": S("azure_ts(changed)")},
        "resourceDetails": {"Source": "Azure", "Id": S("machine_id"), "ResourceProvider": "Microsoft.Compute",
                            "ResourceType": "virtualMachines", "ResourceName": S("resource_name")},
        "additionalData": {},
        "links": {"azurePortal": "portal.azure.com/#blade/Microsoft_Azure_Security/RecommendationsBlade/"
                                 f"assessmentKey/{EDR_INSTALLED_KEY}"},
    }
    raw = arm_row(assessment_id, lit(EDR_INSTALLED_KEY), "microsoft.security/assessments", "subscription_id",
                  ctx.tenant, resource_group="resource_group", properties=properties)
    return Part("azure__security_assessments", "assessments", source, {
        "resource_id": f"lower({assessment_id})", "assessment_key": lit(EDR_INSTALLED_KEY),
        "subscription_id": "lower(subscription_id)", "assessed_resource_id": "lower(machine_id)",
        "resource_source": "'Azure'", "display_name": lit(EDR_INSTALLED_NAME), "status_code": "status.code",
        "status_cause": "''", "status_description": "status.description", "status_change_date": "changed",
        "scope": "scope",
    }, json_sql(raw))


CT_INVENTORY = "kind IN ('azure_vm', 'arc') AND has_ct"
CT_MACHINE = ("lower(machine_id) AS resource_id_lc, iso_ts(inventory_at) AS generated_text, "
              "family = 'windows' AS windows")


def _change_tracking_part(label: str, source: str, row: dict[str, str]) -> Part:
    """``ConfigurationData`` rows as the connector's query projects them: unused columns ``""``."""
    values = {"SoftwareName": "''", "SoftwareType": "''", "Publisher": "''", "CurrentVersion": "''", "SvcName": "''",
              "SvcDisplayName": "''", "SvcState": "''", "SvcStartupType": "''", **row}
    raw = {"_ResourceId": S("resource_id_lc"), "Computer": S("hostname"), "ConfigDataType": S(values["ConfigDataType"]),
           **{k: S(values[k]) for k in ("SoftwareName", "SoftwareType", "Publisher", "CurrentVersion", "SvcName",
                                        "SvcDisplayName", "SvcState", "SvcStartupType")},
           "TimeGenerated": S("generated_text")}
    typed = {"software_name": "SoftwareName", "software_type": "SoftwareType", "publisher": "Publisher",
             "current_version": "CurrentVersion", "svc_name": "SvcName", "svc_display_name": "SvcDisplayName",
             "svc_state": "SvcState", "svc_startup_type": "SvcStartupType"}
    return Part("azure__change_tracking", label, source, {
        "machine_resource_id": "resource_id_lc", "computer": "hostname", "config_data_type": values["ConfigDataType"],
        **{col: f"nullif({values[key]}, '')" for col, key in typed.items()},
        "time_generated": "inventory_at", "scope": "workspace_id",
    }, json_sql(raw))


def change_tracking(ctx: Context) -> list[Part]:
    """Software rows, then Windows services or Linux daemons, of the machines Change Tracking sees."""
    windows = "windows"
    machines = ctx.rows(CT_INVENTORY, CT_MACHINE)
    software = _change_tracking_part("ct-software", join(machines, SOFTWARE, SOFTWARE_RULE) + " AS x", {
        "ConfigDataType": "'Software'", "SoftwareName": SOFTWARE_ITEM["name"],
        "SoftwareType": f"CASE WHEN {windows} THEN 'Application' ELSE 'Package' END",
        "Publisher": SOFTWARE_ITEM["publisher"], "CurrentVersion": SOFTWARE_ITEM["version"]})
    services = _change_tracking_part("ct-services", join(machines, SERVICES, SERVICE_RULE) + " AS x", {
        "ConfigDataType": f"CASE WHEN {windows} THEN 'WindowsServices' ELSE 'Daemons' END",
        "SvcName": SERVICE_ITEM["name"],
        "SvcDisplayName": f"CASE WHEN {windows} THEN {SERVICE_ITEM['display']} ELSE '' END",
        "SvcState": SERVICE_ITEM["state"],
        "SvcStartupType": f"CASE WHEN {windows} THEN {SERVICE_ITEM['start']} ELSE '' END"})
    return [software, services]


# ---------------------------------------------------------------------------------------------------------
# AWS


def _aws_os(position: int) -> str:
    return os_field(lambda im: (im.aws or ("",) * 4)[position])


def ec2_instances(ctx: Context) -> Part:
    stop_at = f"date_trunc('second', ago_days(uniform({ctx.timing('stop')}, 1, 40)))"
    state = case("power", {
        "stopped": "{'code': 80, 'name': 'stopped', 'reason': 'User initiated (' || strftime(" + stop_at
                   + ", '%Y-%m-%d %H:%M:%S') || ' GMT)'}",
        "transitioning": "[{'code': 0, 'name': 'pending', 'reason': ''}, {'code': 64, 'name': 'stopping', "
                         "'reason': ''}][1 + hk(i, 'ec2-state', 2)]",
        "odd": "{'code': 272, 'name': 'running', 'reason': ''}",
    }, "{'code': 16, 'name': 'running', 'reason': ''}")
    source = ctx.rows(
        "kind = 'ec2'",
        f"{state} AS state, date_trunc('second', {_created(200, 1900, 'launch')}) AS launched, "
        f"family = 'windows' AS windows, {_instance_type()} AS instance_type, {_private_dns()} AS private_dns, "
        "'ami-0' || hexid(os_idx, 'ami:' || location, 16) AS image_id, "
        "'r-0' || hexid(i, 'reservation', 16) AS reservation_id, aws_ts(date_trunc('second', "
        f"{_created(200, 1900, 'launch')})) AS launched_text",
    ) + " AS m"
    tags = [{"Key": "Name", "Value": S("name")}, {"Key": "env", "Value": S("env")},
            Opt("owner IS NOT NULL", {"Key": OWNER_TAG, "Value": S("owner")}),
            Opt("exempt_idx IS NOT NULL", {"Key": EXEMPT_TAG, "Value": machine_tags()[EXEMPT_TAG].value}),
            Opt("exempt_idx IS NOT NULL", {"Key": EXEMPT_UNTIL_TAG, "Value": machine_tags()[EXEMPT_UNTIL_TAG].value})]
    root = S("CASE WHEN windows THEN '/dev/sda1' ELSE '/dev/xvda' END")
    launched = S("launched_text")
    raw = {
        "AmiLaunchIndex": 0, "ImageId": S("image_id"), "InstanceId": S("native_id"), "InstanceType": S("instance_type"),
        "KeyName": S("coalesce(owner, 'shared') || '-ops'"), "LaunchTime": launched,
        "Monitoring": {"State": "disabled"},
        "Placement": {"AvailabilityZone": S(f"location || {choose('u(i, {})'.format(lit('az')), 'abc')}"),
                      "GroupName": "", "Tenancy": "default"},
        "Platform": Opt("windows", "windows"),
        "PrivateDnsName": S("private_dns"), "PrivateIpAddress": S("private_ip"), "ProductCodes": [],
        "PublicDnsName": "", "State": {"Code": N("state.code"), "Name": S("state.name")},
        "StateTransitionReason": S("state.reason"), "SubnetId": S("'subnet-' || hexid(i, 'subnet', 17)"),
        "VpcId": S("'vpc-' || hexid(i, 'vpc', 17)"), "Architecture": "x86_64",
        "BlockDeviceMappings": [{"DeviceName": root, "Ebs": {
            "AttachTime": launched, "DeleteOnTermination": True, "Status": "attached",
            "VolumeId": S("'vol-' || hexid(i, 'volume', 17)")}}],
        "ClientToken": "", "EbsOptimized": True, "EnaSupport": True, "Hypervisor": "xen",
        # the SSM agent needs an instance profile to register
        "IamInstanceProfile": Opt("scenario <> 'no_ssm'", {
            "Arn": S("'arn:aws:iam::' || account_id || ':instance-profile/AmazonSSMRoleForInstances'"),
            "Id": S("'AIPA' || upper(hexid(i, 'profile', 17))")}),
        "RootDeviceName": root, "RootDeviceType": "ebs",
        "SecurityGroups": [{"GroupName": "default", "GroupId": S("'sg-' || hexid(i, 'sg', 17)")}],
        "SourceDestCheck": True,
        "StateReason": Opt("state.code = 80", {"Code": "Client.UserInitiatedShutdown",
                                               "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}),
        "Tags": tags, "VirtualizationType": "hvm", "CpuOptions": {"CoreCount": 1, "ThreadsPerCore": 2},
        "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
        "HibernationOptions": {"Configured": False},
        "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 2,
                            "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled",
                            "InstanceMetadataTags": "disabled"},
        "EnclaveOptions": {"Enabled": False}, "PlatformDetails": S(_aws_os(0)), "UsageOperation": S(_aws_os(1)),
        "UsageOperationUpdateTime": launched,
        "PrivateDnsNameOptions": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                  "EnableResourceNameDnsAAAARecord": False},
        "MaintenanceOptions": {"AutoRecovery": "default"},
        "CurrentInstanceBootMode": S("CASE WHEN windows THEN 'uefi' ELSE 'legacy-bios' END"),
    }
    typed_tags = {"Name": S("name"), **machine_tags()}
    return Part("aws__ec2_instances", "ec2", source, {
        "instance_id": "native_id", "account_id": "account_id", "region": "location",
        "reservation_id": "reservation_id", "instance_type": "instance_type", "image_id": "image_id",
        "state_name": "state.name", "state_code": "state.code", "state_transition_reason": "nullif(state.reason, '')",
        "launch_time": "launched", "platform": "CASE WHEN windows THEN 'windows' END",
        "platform_details": _aws_os(0), "private_dns_name": "private_dns", "private_ip_address": "private_ip",
        "tags_json": json_sql(typed_tags, python_style=True), "scope": "scope",
    }, json_sql(raw))


def ssm_instance_information(ctx: Context) -> Part:
    """``DescribeInstanceInformation``: a stopped instance's agent (or a lost one) shows ``ConnectionLost``."""
    source = ctx.rows(
        "kind = 'ec2' AND scenario <> 'no_ssm'",
        "scenario IN ('ssm_connection_lost', 'arc_mde_ssm_lost') OR power = 'stopped' AS lost, "
        "CASE WHEN scenario = 'stale_inventory' THEN 'Failed' ELSE 'Success' END AS association, "
        "date_trunc('millisecond', inventory_at) AS capture_ms",
        f"CASE WHEN lost THEN capture_ms ELSE date_trunc('millisecond', "
        f"ago_hours(uniform({ctx.timing('ping')}, 0.0, 0.08))) END AS last_ping, "
        f"CASE WHEN family = 'windows' THEN hostname ELSE {_private_dns()} END AS computer",
    ) + " AS m"
    ping = "CASE WHEN lost THEN 'ConnectionLost' ELSE 'Online' END"
    platform = "CASE WHEN family = 'windows' THEN 'Windows' ELSE 'Linux' END"
    raw = {
        "InstanceId": S("native_id"), "PingStatus": S(ping), "LastPingDateTime": S("aws_ts_ms(last_ping)"),
        "AgentVersion": "3.3.380.0", "IsLatestVersion": False, "PlatformType": S(platform),
        "PlatformName": S(_aws_os(2)), "PlatformVersion": S(_aws_os(3)), "ResourceType": "EC2Instance",
        "IPAddress": S("private_ip"), "ComputerName": S("computer"), "AssociationStatus": S("association"),
        "LastAssociationExecutionDate": S("aws_ts_ms(capture_ms)"),
        "LastSuccessfulAssociationExecutionDate": S("aws_ts_ms(capture_ms)"),
        "AssociationOverview": {"DetailedStatus": S("association"),
                                "InstanceAssociationStatusAggregatedCount": R("'{\"' || association || '\":1}'")},
        "SourceId": S("native_id"), "SourceType": "AWS::EC2::Instance",
    }
    return Part("aws__ssm_instance_information", "ssm-info", source, {
        "instance_id": "native_id", "account_id": "account_id", "region": "location", "ping_status": ping,
        "last_ping_at": "last_ping", "agent_version": "'3.3.380.0'", "platform_type": platform,
        "platform_name": _aws_os(2), "platform_version": _aws_os(3), "computer_name": "computer",
        "ip_address": "private_ip", "resource_type": "'EC2Instance'", "scope": "scope",
    }, json_sql(raw))


SSM_INVENTORY = f"kind = 'ec2' AND scenario NOT IN ('no_ssm', '{SOURCE_FAILED}') AND intent <> 'not_applicable'"


def ssm_applications(ctx: Context) -> Part:
    """``AWS:Application`` entries: every value a string; software arrives in four batches after launch."""
    launched = f"date_trunc('second', {_created(200, 1900, 'launch')})"
    batches = "[" + ", ".join(f"ssm_ts({launched} + to_microseconds(CAST(uniform(u(i, 'installed-{k}'), 0, 30) "
                              "* 86400000000 AS BIGINT)))" for k in range(4)) + "]"
    rows = ctx.rows(SSM_INVENTORY, f"{batches} AS batches, pkg = 'apt' AS deb, "
                                   "date_trunc('second', inventory_at) AS captured")
    item = ", ".join(f"{v} AS sw_{k}" for k, v in SOFTWARE_ITEM.items())
    source = f"(SELECT *, {item}, batches[1 + hj(i, x.v_id, 'installed', 4)] AS installed_at " \
             f"FROM {join(rows, SOFTWARE, SOFTWARE_RULE)} AS x) AS m"
    arch = "CASE WHEN deb THEN 'amd64' ELSE 'x86_64' END"
    raw = {
        "Name": S("sw_name"), "Publisher": S("sw_publisher"), "Version": S("sw_version"),
        "InstalledTime": S("installed_at"), "ApplicationType": S("sw_section"), "Architecture": S(arch), "URL": "",
        "Summary": S("sw_summary"),
        "PackageId": S("CASE WHEN family <> 'linux' THEN '' WHEN deb THEN sw_name || '_' || sw_version || "
                       "'_amd64.deb' ELSE sw_name || '-' || sw_version || '.src.rpm' END"),
        "Release": "", "Epoch": "",
    }
    return Part("aws__ssm_applications", "ssm-applications", source, {
        "instance_id": "native_id", "account_id": "account_id", "region": "location", "capture_time": "captured",
        "name": "sw_name", "version": "sw_version", "publisher": "sw_publisher", "application_type": "sw_section",
        "architecture": arch, "scope": "scope",
    }, json_sql(raw))


def ssm_services(ctx: Context) -> Part:
    """``AWS:Service`` entries (Windows only)."""
    rows = ctx.rows(f"{SSM_INVENTORY} AND family = 'windows'", "date_trunc('second', inventory_at) AS captured")
    item = ", ".join(f"{v} AS svc_{k}" for k, v in SERVICE_ITEM.items())
    source = f"(SELECT *, {item} FROM {join(rows, SERVICES, SERVICE_RULE)} AS x) AS m"
    start = case("svc_start", {k: lit(v) for k, v in START_TYPES.items()})
    raw = {"Name": S("svc_name"), "DisplayName": S("svc_display"), "ServiceType": "Win32OwnProcess",
           "Status": S("svc_state"), "DependentServices": "", "ServicesDependedOn": "", "StartType": S(start)}
    return Part("aws__ssm_services", "ssm-services", source, {
        "instance_id": "native_id", "account_id": "account_id", "region": "location", "capture_time": "captured",
        "name": "svc_name", "display_name": "svc_display", "status": "svc_state", "start_type": start,
        "service_type": "'Win32OwnProcess'", "scope": "scope",
    }, json_sql(raw))


# ---------------------------------------------------------------------------------------------------------
# GCP


def _gcp_os(position: int) -> str:
    return os_field(lambda im: (im.gcp or ("",) * 5)[position])


def compute_instances(ctx: Context) -> Part:
    status = case("power", {
        "running": "'RUNNING'", "stopped": "'TERMINATED'",
        "transitioning": "['STOPPING', 'PROVISIONING', 'STAGING'][1 + hk(i, 'gcp-status', 3)]",
    }, "['SUSPENDED', 'REPAIRING'][1 + hk(i, 'gcp-status', 2)]")
    source = ctx.rows(
        "kind = 'gcp_vm'",
        f"{status} AS status, 'https://www.googleapis.com/compute/v1/projects/' || project_id AS base, "
        f"{choose('u(i, {})'.format(lit('machine-type')), MACHINE_TYPES)} AS machine_type, "
        f"date_trunc('millisecond', {_created(300, 1900)}) AS created, "
        f"date_trunc('millisecond', ago_days(uniform({ctx.timing('start')}, 6, 90))) AS started, "
        f"ago_days(uniform({ctx.timing('asset')}, 0.1, 20)) AS updated",
        f"CASE WHEN status = 'TERMINATED' THEN date_trunc('millisecond', "
        f"ago_days(uniform({ctx.timing('stop')}, 1, 5))) END AS stopped",
    ) + " AS m"
    labels = machine_tags(label_safe=True)
    license_url = S(f"{lit(COMPUTE + '/projects/')} || {_gcp_os(0)} || '/global/licenses/' || {_gcp_os(1)}")
    data = {
        "id": S("native_id"), "name": S("name"), "description": "", "status": S("status"),
        "zone": S("base || '/zones/' || zone"),
        "machineType": S("base || '/zones/' || zone || '/machineTypes/' || machine_type"),
        "creationTimestamp": S("gcp_local_ts(created)"), "lastStartTimestamp": S("gcp_local_ts(started)"),
        "lastStopTimestamp": Opt("stopped IS NOT NULL", S("gcp_local_ts(stopped)")),
        "labels": labels, "cpuPlatform": "Intel Cascade Lake", "deletionProtection": False, "canIpForward": False,
        "disks": [{
            "boot": True, "autoDelete": True, "deviceName": S("name"), "diskSizeGb": "50", "index": 0,
            "interface": "SCSI", "licenses": [license_url], "mode": "READ_WRITE", "type": "PERSISTENT",
            "source": S("base || '/zones/' || zone || '/disks/' || name"),
            "guestOsFeatures": [{"type": "UEFI_COMPATIBLE"}, {"type": "VIRTIO_SCSI_MULTIQUEUE"}]}],
        "networkInterfaces": [{
            "name": "nic0", "networkIP": S("private_ip"), "network": S("base || '/global/networks/default'"),
            "subnetwork": S("base || '/regions/' || left(zone, -2) || '/subnetworks/default'"),
            "fingerprint": S("hexid(i, 'nic-fp', 11) || '='")}],
        "scheduling": {"automaticRestart": True, "onHostMaintenance": "MIGRATE", "preemptible": False},
        "serviceAccounts": [{"email": S("project_number || '-compute@developer.gserviceaccount.com'"),
                             "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}],
        "selfLink": S("base || '/zones/' || zone || '/instances/' || name"),
        "shieldedInstanceConfig": {"enableIntegrityMonitoring": True, "enableSecureBoot": False, "enableVtpm": True},
        "startRestricted": False, "fingerprint": S("hexid(i, 'fp', 11) || '='"),
        "labelFingerprint": S("hexid(i, 'label-fp', 11) || '='"),
        "tags": {"fingerprint": S("hexid(i, 'tag-fp', 11) || '='")},
        "kind": "compute#instance",
    }
    raw = {
        "name": S("machine_id"), "assetType": "compute.googleapis.com/Instance",
        "ancestors": [S("'projects/' || project_number"), ORGANIZATION], "updateTime": S("gcp_ts(updated)"),
        "resource": {"version": "v1",
                     "discoveryDocumentUri": "https://www.googleapis.com/discovery/v1/apis/compute/v1/rest",
                     "discoveryName": "Instance",
                     "parent": S("'//cloudresourcemanager.googleapis.com/projects/' || project_number"),
                     "data": data, "location": S("zone")},
    }
    return Part("gcp__compute_instances", "instances", source, {
        "asset_name": "machine_id", "project_id": "project_id", "zone": "zone", "instance_name": "name",
        "project_number": "project_number", "instance_id": "native_id", "status": "status",
        "machine_type": "machine_type", "hostname": "NULL", "private_ip_address": "private_ip",
        "creation_timestamp": "created", "last_start_timestamp": "started", "last_stop_timestamp": "stopped",
        "boot_licenses": _gcp_os(1), "labels_json": json_sql(labels, python_style=True), "update_time": "updated",
        "scope": "scope",
    }, json_sql(raw))


GOOGET = ("googet", "google-compute-engine-windows", "google-osconfig-agent")
KBS = ("KB5036896", "KB5037765")
GCP_INVENTORY = f"kind = 'gcp_vm' AND scenario NOT IN ('no_inventory', '{SOURCE_FAILED}')"
PACKAGE = "STRUCT(item_id VARCHAR, kind VARCHAR, name VARCHAR, version VARCHAR, publisher VARCHAR)"


INSTALL_WINDOW = 31 + 30 + 371  # days before the snapshot an installDate can fall on


def _inventory_text(snapshot_date: date) -> dict[str, str]:
    """OS Config inventory ``items`` (JSON text) and the ``packages`` column from the machine's chosen
    vocabulary positions ``ks``: installed packages and two pending upgrades on Linux; programs
    (``windowsApplication``), GooGet packages and KBs on Windows; in the same order in both, as the
    extractor reads them. Per machine: ``p`` (package manager), ``package_kind``, ``item_head`` (an
    item's fields after its id, up to its ``type``)."""
    f = {name: lit(values) for name, values in gcp_fragments(PACKAGE_KIND).items()}
    linux_k = "k * 4 + p + 1"
    # installDate: 30-400 days before the inventory, itself 0-30 days before the snapshot: look the
    # {year, month, day} text up by days before the snapshot instead of formatting a date per item
    dates = lit([compact({"year": d.year, "month": d.month, "day": d.day}) + "}}}"
                 for d in (snapshot_date - timedelta(days=n) for n in range(INSTALL_WINDOW))])
    day = f"{dates}[inventory_lag + 30 + hj(i, k, 'install-day', 371) + 1]"
    linux = (f"concat_ws(',', array_to_string(list_transform(ks, lambda k: concat({f['head']}[{linux_k}], item_head, "
             f"{f['tail']}[{linux_k}])), ','), nullif(array_to_string(list_transform(ks[1:2], lambda k: "
             f"concat({f['pending_head']}[{linux_k}], item_head, {f['pending_tail']}[{linux_k}])), ','), ''))")

    def item(item_id: str, kind: str, payload: dict[str, Any]) -> str:
        head = lit(compact(item_id) + ':{"id":' + compact(item_id)[:-1])  # id left open: item_head
        state = lit('INSTALLED_PACKAGE","installedPackage":{' + compact(kind) + ":")
        return f"concat({head}, item_head, {state}, {json_sql(payload)}, '}}}}')"

    extras = [item(f"installedPackage-{n}:x86_64:20240320.00@1", "googetPackage",
                   {"packageName": n, "architecture": "x86_64", "version": "20240320.00@1"}) for n in GOOGET]
    extras += [item(f"installedPackage-{kb}", "qfePackage",
                    {"caption": f"http://support.microsoft.com/?kbid={kb[2:]}", "description": "Update",
                     "hotFixId": kb, "installTime": S("gcp_ts(inventory_at - INTERVAL 20 DAY)")}) for kb in KBS]
    windows = (f"concat_ws(',', array_to_string(list_transform(ks, lambda k: concat({f['w_head']}[k + 1], item_head, "
               f"{f['w_mid']}[k + 1], {day})), ','), {', '.join(extras)})")
    items = f"concat('{{', CASE WHEN pkg = 'windows' THEN {windows} ELSE {linux} END, '}}')"
    extra_packages = lit([{"item_id": f"installedPackage-{n}:x86_64:20240320.00@1", "kind": "googetPackage",
                           "name": n, "version": "20240320.00@1", "publisher": None} for n in GOOGET]
                         + [{"item_id": f"installedPackage-{kb}", "kind": "qfePackage", "name": kb, "version": None,
                             "publisher": None} for kb in KBS])
    packages = f"""CAST(CASE WHEN pkg = 'windows' THEN list_concat(list_transform(ks, lambda k: {{
                'item_id': {f['w_id']}[k + 1], 'kind': 'windowsApplication', 'name': {f['name']}[k + 1],
                'version': {f['w_version']}[k + 1], 'publisher': {f['w_publisher']}[k + 1]}}), {extra_packages})
        ELSE list_transform(ks, lambda k: {{'item_id': {f['id']}[{linux_k}], 'kind': package_kind,
                'name': {f['name']}[k + 1], 'version': {f['version']}[{linux_k}], 'publisher': NULL}})
        END AS {PACKAGE}[])"""
    return {"items": items, "packages": packages}


def os_inventories(ctx: Context) -> Part:
    text = _inventory_text(ctx.snapshot_date)
    head = ("concat('\",\"originType\":\"INVENTORY_REPORT\",\"createTime\":\"', "
            "gcp_ts(inventory_at - INTERVAL 30 DAY), '\",\"updateTime\":\"', updated_text, '\",\"type\":\"')")
    source = ctx.rows(
        GCP_INVENTORY,
        f"{gcp_ids()} AS ks, gcp_ts(inventory_at) AS updated_text, {GCP_PKG_IDX} AS p, "
        f"date_diff('day', CAST(inventory_at AS DATE), {lit(ctx.snapshot_date)}) AS inventory_lag, "
        f"{case('pkg', {k: lit(v) for k, v in PACKAGE_KIND.items()})} AS package_kind",
        f"{head} AS item_head",
    ) + " AS m"
    os_info = {"hostname": S("hostname"), "longName": S(_gcp_os(2)), "shortName": S(_gcp_os(3)),
               "version": S(_gcp_os(4)), "architecture": "x86_64",
               "kernelRelease": S(case("pkg", {k: lit(v) for k, v in KERNELS.items()})),
               "osconfigAgentVersion": "20240320.00-g1"}
    raw = {
        "name": S("machine_id"), "assetType": "compute.googleapis.com/Instance",
        "ancestors": [S("'projects/' || project_number"), ORGANIZATION], "updateTime": S("updated_text"),
        "osInventory": {
            "name": S("'projects/' || project_number || '/locations/' || zone || '/instances/' || native_id "
                      "|| '/inventory'"),
            "osInfo": os_info, "items": R(text["items"]), "updateTime": S("updated_text")},
    }
    return Part("gcp__os_inventories", "os-inventories", source, {
        "asset_name": "machine_id", "project_id": "project_id", "zone": "zone", "instance_name": "name",
        "os_hostname": "hostname", "os_long_name": _gcp_os(2), "os_short_name": _gcp_os(3), "os_version": _gcp_os(4),
        "osconfig_agent_version": "'20240320.00-g1'", "inventory_update_time": "inventory_at",
        "packages": text["packages"], "scope": "scope",
    }, json_sql(raw))


def all_parts(ctx: Context) -> list[Part]:
    """Every SQL-generated part, biggest first (the scope-level datasets are written by ``scale.py``)."""
    return [
        *change_tracking(ctx),
        ssm_applications(ctx),
        os_inventories(ctx),
        ssm_services(ctx),
        *machine_extensions(ctx),
        virtual_machines(ctx),
        ec2_instances(ctx),
        compute_instances(ctx),
        ssm_instance_information(ctx),
        *arc_machines(ctx),
        security_assessments(ctx),
    ]


__all__ = ["Context", "Part", "all_parts"]
