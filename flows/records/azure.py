"""Azure Resource Graph and Log Analytics records -> typed landing rows.

Resource Graph rows are whole ``resources`` / ``securityresources`` rows (id, name, type, subscriptionId,
resourceGroup, location, tags, properties, ...). Change Tracking rows are ``ConfigurationData`` result rows
from the Log Analytics query API, as a dict of column name -> value.
"""

from __future__ import annotations

from typing import Any

from flows.records._util import dig, json_text, lower_or_none, parse_ts

PRICINGS_SEGMENT = "/providers/microsoft.security/pricings/"
EXTENSIONS_SEGMENT = "/extensions/"


def _common(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource_id": row["id"].lower(),
        "name": row["name"],
        "subscription_id": row["subscriptionId"].lower(),
        "resource_group": lower_or_none(row.get("resourceGroup")),
        "location": row.get("location"),
        "tags_json": json_text(row.get("tags") or {}),
    }


def to_virtual_machine_row(row: dict[str, Any]) -> dict[str, Any]:
    """``microsoft.compute/virtualmachines``; power state lives in ``properties.extended.instanceView``."""
    props = row["properties"]
    view = dig(props, "extended", "instanceView") or {}
    image = dig(props, "storageProfile", "imageReference") or {}
    return {
        **_common(row),
        "vm_id": props.get("vmId"),
        "computer_name": dig(props, "osProfile", "computerName"),
        "os_type": dig(props, "storageProfile", "osDisk", "osType"),
        "os_name": view.get("osName"),
        "os_version": view.get("osVersion"),
        "image_publisher": image.get("publisher"),
        "image_offer": image.get("offer"),
        "image_sku": image.get("sku"),
        "power_state_code": dig(view, "powerState", "code"),
        "provisioning_state": props.get("provisioningState"),
        "time_created": parse_ts(props.get("timeCreated")),
    }


def to_arc_machine_row(row: dict[str, Any]) -> dict[str, Any]:
    """``microsoft.hybridcompute/machines``: Arc-enabled servers, possibly EC2 or GCP VMs in disguise."""
    props = row["properties"]
    return {
        **_common(row),
        "vm_id": props.get("vmId"),
        "status": props.get("status"),
        "os_type": props.get("osType"),
        "os_name": props.get("osName"),
        "os_version": props.get("osVersion"),
        "os_sku": props.get("osSku"),
        "machine_fqdn": props.get("machineFqdn"),
        "agent_version": props.get("agentVersion"),
        "last_status_change": parse_ts(props.get("lastStatusChange")),
        "cloud_provider": dig(props, "cloudMetadata", "provider"),
        "detected_properties_json": json_text(props.get("detectedProperties")),
    }


def to_machine_extension_row(row: dict[str, Any]) -> dict[str, Any]:
    """VM and Arc extensions (``.../virtualmachines/extensions`` and ``.../machines/extensions``)."""
    props = row["properties"]
    resource_id = row["id"].lower()
    machine_id, sep, _ = resource_id.rpartition(EXTENSIONS_SEGMENT)
    if not sep:
        raise ValueError(f"extension id has no {EXTENSIONS_SEGMENT!r} segment")
    return {
        "resource_id": resource_id,
        "machine_resource_id": machine_id,
        "name": row["name"],
        "resource_type": row["type"].lower(),
        "subscription_id": row["subscriptionId"].lower(),
        "publisher": props["publisher"],
        "extension_type": props["type"],
        "type_handler_version": props.get("typeHandlerVersion"),
        "provisioning_state": props.get("provisioningState"),
    }


def to_security_pricing_row(row: dict[str, Any]) -> dict[str, Any]:
    """``microsoft.security/pricings``; a pricing below a resource id is a resource-level override."""
    props = row["properties"]
    resource_id = row["id"].lower()
    scope, sep, _ = resource_id.partition(PRICINGS_SEGMENT)
    if not sep:
        raise ValueError(f"pricing id has no {PRICINGS_SEGMENT!r} segment")
    return {
        "resource_id": resource_id,
        "name": row["name"],
        "subscription_id": row["subscriptionId"].lower(),
        "scope_resource_id": scope,
        "pricing_tier": props["pricingTier"],
        "sub_plan": props.get("subPlan"),
        "enablement_time": parse_ts(props.get("enablementTime")),
        "extensions_json": json_text(props.get("extensions")),
    }


def _servers_offering(offerings: list[dict[str, Any]]) -> dict[str, Any]:
    for offering in offerings:
        if str(offering.get("offeringType", "")).startswith("DefenderForServers"):
            return offering
    return {}


def _sub_plan(value: Any) -> str | None:
    """The API spec says ``{"type": "P2"}``; Microsoft's docs and real traffic also show plain ``"P2"``."""
    return value.get("type") if isinstance(value, dict) else value


def to_security_connector_row(row: dict[str, Any]) -> dict[str, Any]:
    """``microsoft.security/securityconnectors``: the Defender for Servers plan of AWS accounts / GCP projects."""
    props = row["properties"]
    servers = _servers_offering(props.get("offerings") or [])
    return {
        "resource_id": row["id"].lower(),
        "name": row["name"],
        "subscription_id": row["subscriptionId"].lower(),
        "environment_name": props["environmentName"],
        "hierarchy_identifier": str(props["hierarchyIdentifier"]),
        "servers_offering_type": servers.get("offeringType"),
        "servers_sub_plan": _sub_plan(servers.get("subPlan")),
        "offerings_json": json_text(props.get("offerings")),
    }


def to_security_assessment_row(row: dict[str, Any]) -> dict[str, Any]:
    """``microsoft.security/assessments``: Defender for Cloud's own verdict on a resource."""
    props = row["properties"]
    # Resource Graph spells resourceDetails.Source/Id, the REST API source/id; AWS and GCP rows carry the
    # Azure-side entity id (".../securityentitydata/aws-ec2-instance-<id>-<region>") in additionalData.
    details = props.get("resourceDetails") or {}
    assessed = (details.get("Id") or details.get("id")
                or dig(props, "additionalData", "AzureResourceId"))
    return {
        "resource_id": row["id"].lower(),
        "assessment_key": row["name"],
        "subscription_id": row["subscriptionId"].lower(),
        "assessed_resource_id": lower_or_none(assessed),
        "resource_source": details.get("Source") or details.get("source"),
        "display_name": props["displayName"],
        "status_code": props["status"]["code"],
        "status_cause": props["status"].get("cause"),
        "status_description": props["status"].get("description"),
        "status_change_date": parse_ts(props["status"].get("statusChangeDate")),
    }


def to_change_tracking_row(row: dict[str, Any]) -> dict[str, Any]:
    """One ``ConfigurationData`` row (software, Windows service or Linux daemon) keyed by ``_ResourceId``."""
    return {
        "machine_resource_id": row["_ResourceId"].lower(),
        "computer": row.get("Computer"),
        "config_data_type": row["ConfigDataType"],
        "software_name": row.get("SoftwareName") or None,
        "software_type": row.get("SoftwareType") or None,
        "publisher": row.get("Publisher") or None,
        "current_version": row.get("CurrentVersion") or None,
        "svc_name": row.get("SvcName") or None,
        "svc_display_name": row.get("SvcDisplayName") or None,
        "svc_state": row.get("SvcState") or None,
        "svc_startup_type": row.get("SvcStartupType") or None,
        "time_generated": _required_ts(row["TimeGenerated"], "TimeGenerated"),
    }


def _required_ts(value: Any, name: str):
    """Log Analytics always returns every projected column: a missing time arrives as null, not absent."""
    parsed = parse_ts(value)
    if parsed is None:
        raise ValueError(f"{name} is null")
    return parsed
