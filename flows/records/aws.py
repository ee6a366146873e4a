"""AWS EC2 and SSM records (as boto3 returns them) -> typed landing rows.

Context that the API does not repeat in each record (account, region, the inventory capture time of a
``ListInventoryEntries`` page) is passed in explicitly by the caller.
"""

from __future__ import annotations

from typing import Any

from flows.records._util import json_text, parse_ts


def tags_to_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """EC2 returns ``[{"Key": k, "Value": v}]``; we keep tags as one JSON object like the other clouds."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def to_ec2_instance_row(instance: dict[str, Any], *, account_id: str, region: str, reservation_id: str | None
                        ) -> dict[str, Any]:
    """One ``Reservations[].Instances[]`` element of ``ec2:DescribeInstances``."""
    state = instance["State"]
    return {
        "instance_id": instance["InstanceId"],
        "account_id": account_id,
        "region": region,
        "reservation_id": reservation_id,
        "instance_type": instance.get("InstanceType"),
        "image_id": instance.get("ImageId"),
        "state_name": state["Name"],
        "state_code": int(state["Code"]),
        "state_transition_reason": instance.get("StateTransitionReason") or None,
        "launch_time": parse_ts(instance.get("LaunchTime")),
        "platform": instance.get("Platform"),
        "platform_details": instance.get("PlatformDetails"),
        "private_dns_name": instance.get("PrivateDnsName") or None,
        "private_ip_address": instance.get("PrivateIpAddress"),
        "tags_json": json_text(tags_to_dict(instance.get("Tags"))),
    }


def to_ssm_instance_information_row(info: dict[str, Any], *, account_id: str, region: str) -> dict[str, Any]:
    """One ``InstanceInformationList`` element of ``ssm:DescribeInstanceInformation``."""
    return {
        "instance_id": info["InstanceId"],
        "account_id": account_id,
        "region": region,
        "ping_status": info["PingStatus"],
        "last_ping_at": parse_ts(info.get("LastPingDateTime")),
        "agent_version": info.get("AgentVersion"),
        "platform_type": info.get("PlatformType"),
        "platform_name": info.get("PlatformName"),
        "platform_version": info.get("PlatformVersion"),
        "computer_name": info.get("ComputerName"),
        "ip_address": info.get("IPAddress"),
        "resource_type": info.get("ResourceType"),
    }


def to_ssm_application_row(entry: dict[str, Any], *, instance_id: str, account_id: str, region: str,
                           capture_time: Any) -> dict[str, Any]:
    """One ``Entries[]`` element of ``ssm:ListInventoryEntries`` for ``AWS:Application``."""
    return {
        "instance_id": instance_id,
        "account_id": account_id,
        "region": region,
        "capture_time": parse_ts(capture_time),
        "name": entry["Name"],
        "version": entry.get("Version"),
        "publisher": entry.get("Publisher"),
        "application_type": entry.get("ApplicationType"),
        "architecture": entry.get("Architecture"),
    }


def to_ssm_service_row(entry: dict[str, Any], *, instance_id: str, account_id: str, region: str,
                       capture_time: Any) -> dict[str, Any]:
    """One ``Entries[]`` element of ``ssm:ListInventoryEntries`` for ``AWS:Service`` (Windows services)."""
    return {
        "instance_id": instance_id,
        "account_id": account_id,
        "region": region,
        "capture_time": parse_ts(capture_time),
        "name": entry["Name"],
        "display_name": entry.get("DisplayName"),
        "status": entry.get("Status"),
        "start_type": entry.get("StartType"),
        "service_type": entry.get("ServiceType"),
    }
