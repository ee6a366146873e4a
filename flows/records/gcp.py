"""GCP Cloud Asset ``ListAssets`` records (camelCase JSON) -> typed landing rows.

``compute.googleapis.com/Instance`` assets with content type ``RESOURCE`` carry the Compute API's instance
under ``resource.data``; with ``OS_INVENTORY`` they carry the OS Config inventory under ``osInventory``.
Both share the asset ``name`` (``//compute.googleapis.com/projects/P/zones/Z/instances/N``), our join key.
"""

from __future__ import annotations

from typing import Any

from flows.records._util import dig, json_text, parse_ts

ASSET_PREFIX = "//compute.googleapis.com/"

# installedPackage variants of osconfig.v1.Inventory.SoftwarePackage, and where each keeps its name.
PACKAGE_NAME_FIELDS = {
    "aptPackage": ("packageName", "version", None),
    "yumPackage": ("packageName", "version", None),
    "zypperPackage": ("packageName", "version", None),
    "googetPackage": ("packageName", "version", None),
    "cosPackage": ("packageName", "version", None),
    "zypperPatch": ("patchName", None, None),
    "windowsApplication": ("displayName", "displayVersion", "publisher"),
    "wuaPackage": ("title", None, None),
    "qfePackage": ("hotFixId", None, None),
}


def split_asset_name(asset_name: str) -> dict[str, str]:
    """``//compute.googleapis.com/projects/P/zones/Z/instances/N`` -> project, zone, instance name."""
    if not asset_name.startswith(ASSET_PREFIX):
        raise ValueError(f"not a Compute asset name: {asset_name[:80]!r}")
    parts = asset_name[len(ASSET_PREFIX):].split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "zones" or parts[4] != "instances":
        raise ValueError(f"unexpected Compute instance asset name: {asset_name[:80]!r}")
    return {"project_id": parts[1], "zone": parts[3], "instance_name": parts[5]}


def _last_segment(url: str | None) -> str | None:
    return url.rsplit("/", 1)[-1] if url else None


def _boot_licenses(data: dict[str, Any]) -> str | None:
    for disk in data.get("disks") or []:
        if disk.get("boot"):
            return ",".join(_last_segment(lic) or "" for lic in disk.get("licenses") or []) or None
    return None


def project_number(asset: dict[str, Any]) -> str | None:
    """The project *number* (what Defender's GCP connectors key on), from ``ancestors`` or ``resource.parent``."""
    for ancestor in asset.get("ancestors") or []:
        if ancestor.startswith("projects/"):
            return ancestor.split("/", 1)[1]
    parent = dig(asset, "resource", "parent") or ""
    return parent.rsplit("/", 1)[1] if "/projects/" in parent else None


def to_compute_instance_row(asset: dict[str, Any]) -> dict[str, Any]:
    """An ``RESOURCE`` asset of type ``compute.googleapis.com/Instance``."""
    data = asset["resource"]["data"]
    nic = (data.get("networkInterfaces") or [{}])[0]
    return {
        "asset_name": asset["name"],
        **split_asset_name(asset["name"]),
        "project_number": project_number(asset),
        "instance_id": str(data["id"]),
        "status": data["status"],
        "machine_type": _last_segment(data.get("machineType")),
        "hostname": data.get("hostname"),
        "private_ip_address": nic.get("networkIP"),
        "creation_timestamp": parse_ts(data.get("creationTimestamp")),
        "last_start_timestamp": parse_ts(data.get("lastStartTimestamp")),
        "last_stop_timestamp": parse_ts(data.get("lastStopTimestamp")),
        "boot_licenses": _boot_licenses(data),
        "labels_json": json_text(data.get("labels") or {}),
        "update_time": parse_ts(asset.get("updateTime")),
    }


def _package(item_id: str, item: dict[str, Any]) -> dict[str, Any] | None:
    if item.get("type") != "INSTALLED_PACKAGE":
        return None
    installed = item.get("installedPackage") or {}
    for kind, (name_key, version_key, publisher_key) in PACKAGE_NAME_FIELDS.items():
        if kind in installed:
            pkg = installed[kind]
            return {
                "item_id": item_id,
                "kind": kind,
                "name": pkg.get(name_key),
                "version": pkg.get(version_key) if version_key else None,
                "publisher": pkg.get(publisher_key) if publisher_key else None,
            }
    return None


def to_os_inventory_row(asset: dict[str, Any]) -> dict[str, Any]:
    """An ``OS_INVENTORY`` asset: OS details and the installed packages, flattened to a list column."""
    inventory = asset["osInventory"]
    items = inventory.get("items") or {}
    packages = [p for item_id, item in items.items() if (p := _package(item_id, item)) and p["name"]]
    return {
        "asset_name": asset["name"],
        **split_asset_name(asset["name"]),
        "os_hostname": dig(inventory, "osInfo", "hostname"),
        "os_long_name": dig(inventory, "osInfo", "longName"),
        "os_short_name": dig(inventory, "osInfo", "shortName"),
        "os_version": dig(inventory, "osInfo", "version"),
        "osconfig_agent_version": dig(inventory, "osInfo", "osconfigAgentVersion"),
        "inventory_update_time": parse_ts(inventory.get("updateTime")),
        "packages": packages,
    }


__all__ = ["to_compute_instance_row", "to_os_inventory_row", "split_asset_name", "json_text"]
