"""AWS records of the demo estate, shaped like boto3's parsed responses (PascalCase, ISO-8601 times).

EC2 instances come one reservation at a time; SSM instance information in pages of 50; inventory entries
as ``ListInventoryEntries`` answers for one instance, whose ``CaptureTime`` is passed as context because
the entries themselves do not repeat it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flows.demo.azure import ANCHOR, add_arc_mirror
from flows.demo.common import ago, aws_ts, aws_ts_fraction, hex_id, rng_for, ssm_capture_time
from flows.demo.inventory import DemoContext, Inventory, build_inventory, machine_tags
from flows.demo.pages import PageCollector
from flows.demo.plan import AWAITING_INVENTORY, TERMINATED, PlannedMachine

INSTANCE_TYPES = ("t3.medium", "t3.large", "m5.large", "m6i.xlarge", "c6i.2xlarge", "r6i.large")
START_TYPES = {"Auto": "Automatic", "Manual": "Manual", "Disabled": "Disabled"}
# Scenarios without an SSM agent answering (no record at all) / with a lost connection.
NO_SSM = frozenset({"no_ssm"})
# Scenarios with an instance profile but no SSM record tonight: not registered yet, or terminated.
SSM_SILENT = frozenset({AWAITING_INVENTORY, TERMINATED})
USER_SHUTDOWN = {
    "Code": "Client.UserInitiatedShutdown",
    "Message": "Client.UserInitiatedShutdown: User initiated shutdown",
}
SSM_LOST = frozenset({"ssm_connection_lost", "arc_mde_ssm_lost"})


def launch_time(ctx: DemoContext, m: PlannedMachine) -> datetime:
    """Fixed per machine, never after the snapshot; a new machine's own launch."""
    if m.launched_at is not None:
        return m.launched_at
    moment = ANCHOR + timedelta(days=ctx.rng(m, "launch").uniform(200, 1900), seconds=0)
    return min(moment, ago(ctx.snapshot_date, days=1))


def _state(ctx: DemoContext, m: PlannedMachine) -> tuple[dict[str, Any], str, dict[str, str] | None]:
    """``State``, ``StateTransitionReason``, ``StateReason``; code 272 = "running" + an internal high byte."""
    bucket = ctx.power(m)
    pick = ctx.rng(m, "ec2-state")
    if m.terminated_at is not None:  # EC2 lists a terminated instance for about an hour
        reason = f"User initiated ({m.terminated_at:%Y-%m-%d %H:%M:%S} GMT)"
        return {"Code": 48, "Name": "terminated"}, reason, USER_SHUTDOWN
    if bucket == "stopped":
        when = ago(ctx.snapshot_date, days=ctx.timing(m, "stop").uniform(1, 40))
        return {"Code": 80, "Name": "stopped"}, f"User initiated ({when:%Y-%m-%d %H:%M:%S} GMT)", USER_SHUTDOWN
    if bucket == "transitioning":
        code, name = pick.choice(((0, "pending"), (64, "stopping")))
        return {"Code": code, "Name": name}, "", None
    if bucket == "odd":
        return {"Code": 272, "Name": "running"}, "", None
    return {"Code": 16, "Name": "running"}, "", None


def private_dns(m: PlannedMachine) -> str:
    ip = (m.private_ip or "").replace(".", "-")
    suffix = "ec2.internal" if m.location == "us-east-1" else f"{m.location}.compute.internal"
    return f"ip-{ip}.{suffix}"


def ec2_instance(ctx: DemoContext, m: PlannedMachine) -> dict[str, Any]:
    """One ``Reservations[].Instances[]`` element; ``Platform`` only on Windows, ``Tags`` absent when none."""
    rng = ctx.rng(m, "ec2")
    account = m.account_id
    windows = m.family == "windows"
    state, reason, state_reason = _state(ctx, m)
    launched = aws_ts(launch_time(ctx, m))
    root = "/dev/sda1" if windows else "/dev/xvda"
    instance: dict[str, Any] = {
        "AmiLaunchIndex": 0,
        "ImageId": _image_id(ctx, m),
        "InstanceId": m.native_id,
        "InstanceType": rng.choice(INSTANCE_TYPES),
        "KeyName": f"{m.owner or 'shared'}-ops",
        "LaunchTime": launched,
        "Monitoring": {"State": "disabled"},
        "Placement": {
            "AvailabilityZone": f"{m.location}{rng.choice('abc')}",
            "GroupName": "",
            "Tenancy": "default",
        },
    }
    if windows:
        instance["Platform"] = "windows"
    instance |= {
        "PrivateDnsName": private_dns(m),
        "PrivateIpAddress": m.private_ip,
        "ProductCodes": [],
        "PublicDnsName": "",
        "State": state,
        "StateTransitionReason": reason,
        "SubnetId": f"subnet-{hex_id(rng, 17)}",
        "VpcId": f"vpc-{hex_id(rng, 17)}",
        "Architecture": "x86_64",
        "BlockDeviceMappings": [
            {
                "DeviceName": root,
                "Ebs": {
                    "AttachTime": launched,
                    "DeleteOnTermination": True,
                    "Status": "attached",
                    "VolumeId": f"vol-{hex_id(rng, 17)}",
                },
            }
        ],
        "ClientToken": "",
        "EbsOptimized": True,
        "EnaSupport": True,
        "Hypervisor": "xen",
    }
    if m.scenario not in NO_SSM:  # the SSM agent needs an instance profile to register
        instance["IamInstanceProfile"] = {
            "Arn": f"arn:aws:iam::{account}:instance-profile/AmazonSSMRoleForInstances",
            "Id": f"AIPA{hex_id(rng, 17).upper()}",
        }
    instance |= {
        "RootDeviceName": root,
        "RootDeviceType": "ebs",
        "SecurityGroups": [{"GroupName": "default", "GroupId": f"sg-{hex_id(rng, 17)}"}],
        "SourceDestCheck": True,
    }
    if state_reason:
        instance["StateReason"] = state_reason
    instance["Tags"] = _tags(ctx, m)
    platform_details, usage_operation = m.os.aws[0], m.os.aws[1]
    instance |= {
        "VirtualizationType": "hvm",
        "CpuOptions": {"CoreCount": 1, "ThreadsPerCore": 2},
        "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
        "HibernationOptions": {"Configured": False},
        "MetadataOptions": {
            "State": "applied",
            "HttpTokens": "required",
            "HttpPutResponseHopLimit": 2,
            "HttpEndpoint": "enabled",
            "HttpProtocolIpv6": "disabled",
            "InstanceMetadataTags": "disabled",
        },
        "EnclaveOptions": {"Enabled": False},
        "PlatformDetails": platform_details,
        "UsageOperation": usage_operation,
        "UsageOperationUpdateTime": launched,
        "PrivateDnsNameOptions": {
            "HostnameType": "ip-name",
            "EnableResourceNameDnsARecord": False,
            "EnableResourceNameDnsAAAARecord": False,
        },
        "MaintenanceOptions": {"AutoRecovery": "default"},
        "CurrentInstanceBootMode": "uefi" if windows else "legacy-bios",
    }
    if m.terminated_at is not None:
        _strip_terminated(instance)
    return instance


def _strip_terminated(instance: dict[str, Any]) -> None:
    """A terminated instance has lost its network interface, addresses, volumes and instance profile."""
    for key in ("PrivateIpAddress", "SubnetId", "VpcId", "IamInstanceProfile"):
        instance.pop(key, None)
    instance |= {"PrivateDnsName": "", "BlockDeviceMappings": [], "SecurityGroups": []}


def _image_id(ctx: DemoContext, m: PlannedMachine) -> str:
    """One AMI per OS and region, shared by the instances launched from it."""
    return f"ami-{hex_id(rng_for(ctx.seed, 'ami', m.os_key, m.location), 17)}"


def _tags(ctx: DemoContext, m: PlannedMachine) -> list[dict[str, str]]:
    tags = {"Name": m.name, **machine_tags(ctx, m)}
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def ssm_information(ctx: DemoContext, m: PlannedMachine, capture: datetime) -> dict[str, Any] | None:
    """``DescribeInstanceInformation`` entry; a stopped instance's agent shows ``ConnectionLost``."""
    if m.scenario in NO_SSM:
        return None
    lost = m.scenario in SSM_LOST or ctx.power(m) == "stopped"
    last_ping = capture if lost else ago(ctx.snapshot_date, hours=ctx.timing(m, "ping").uniform(0.0, 0.08))
    association = "Failed" if m.scenario == "stale_inventory" else "Success"
    platform_name, platform_version = m.os.aws[2], m.os.aws[3]
    return {
        "InstanceId": m.native_id,
        "PingStatus": "ConnectionLost" if lost else "Online",
        "LastPingDateTime": aws_ts_fraction(last_ping),
        "AgentVersion": "3.3.380.0",
        "IsLatestVersion": False,
        "PlatformType": "Windows" if m.family == "windows" else "Linux",
        "PlatformName": platform_name,
        "PlatformVersion": platform_version,
        "ResourceType": "EC2Instance",
        "IPAddress": m.private_ip,
        "ComputerName": m.hostname if m.family == "windows" else private_dns(m),
        "AssociationStatus": association,
        "LastAssociationExecutionDate": aws_ts_fraction(capture),
        "LastSuccessfulAssociationExecutionDate": aws_ts_fraction(capture),
        "AssociationOverview": {
            "DetailedStatus": association,
            "InstanceAssociationStatusAggregatedCount": {association: 1},
        },
        "SourceId": m.native_id,
        "SourceType": "AWS::EC2::Instance",
    }


def application_entries(ctx: DemoContext, m: PlannedMachine, inventory: Inventory) -> list[dict[str, str]]:
    """``AWS:Application`` entries: every value a string, unused attributes ``""``."""
    installed = ctx.rng(m, "installed")
    deb = m.os.pkg == "apt"
    launched = launch_time(ctx, m).replace(microsecond=0)
    # Software arrives in a few batches after launch (image build, bootstrap, later changes), none later than
    # the inventory that lists it.
    latest = ctx.inventory_time(m).replace(microsecond=0) if m.launched_at is not None else None
    moments = [launched + timedelta(days=installed.uniform(0, 30)) for _ in range(4)]
    batches = [f"{min(t, latest) if latest else t:%Y-%m-%dT%H:%M:%S}Z" for t in moments]
    entries = []
    for item in inventory.software:
        entry = {
            "Name": item.name,
            "Publisher": item.publisher,
            "Version": item.version,
            "InstalledTime": batches[installed.randrange(4)],
            "ApplicationType": item.section,
            "Architecture": "amd64" if deb else "x86_64",
            "URL": "",
            "Summary": item.summary,
            "PackageId": "",
            "Release": "",
            "Epoch": "",
        }
        if m.family == "linux":
            entry["PackageId"] = (
                f"{item.name}_{item.version}_amd64.deb" if deb else f"{item.name}-{item.version}.src.rpm"
            )
        entries.append(entry)
    return entries


def service_entries(inventory: Inventory) -> list[dict[str, str]]:
    """``AWS:Service`` entries (Windows only)."""
    return [
        {
            "Name": s.name,
            "DisplayName": s.display,
            "ServiceType": "Win32OwnProcess",
            "Status": s.state,
            "DependentServices": "",
            "ServicesDependedOn": "",
            "StartType": START_TYPES[s.start],
        }
        for s in inventory.services
    ]


def add_ssm(ctx: DemoContext, m: PlannedMachine, out: PageCollector) -> None:
    """Instance information plus its inventory, when the agent has ever reported."""
    if m.scenario in SSM_SILENT:
        return
    capture = ctx.inventory_time(m)
    info = ssm_information(ctx, m, capture)
    if info is None:
        return
    out.add("aws__ssm_instance_information", m.scope, info, account_id=m.account_id, region=m.location)
    if m.case == "not_applicable":  # the agent runs on FreeBSD, but inventory gathering does not
        return
    inventory = build_inventory(ctx.seed, m)
    context = dict(
        instance_id=m.native_id,
        account_id=m.account_id,
        region=m.location,
        capture_time=ssm_capture_time(capture),
    )
    out.add_paged("aws__ssm_applications", m.scope, application_entries(ctx, m, inventory), **context)
    if m.family == "windows":
        out.add_paged("aws__ssm_services", m.scope, service_entries(inventory), **context)


def add_ec2_arc_mirror(ctx: DemoContext, m: PlannedMachine, instance: dict[str, Any], out: PageCollector) -> None:
    """The Arc machine Defender created for this instance, tagged the way its connector tags them."""
    tags = {
        "AccountId": m.account_id,
        "Cloud": "AWS",
        "InstanceId": m.native_id,
        "MDFCSecurityConnector": "true",
    }
    detected = {
        "cloudprovider": "AWS",
        "manufacturer": "Amazon EC2",
        "model": instance["InstanceType"],
        "coreCount": "1",
        "logicalCoreCount": "2",
        "totalPhysicalMemoryInBytes": "8589934592",
        "totalPhysicalMemoryInGigabytes": "8",
    }
    fqdn = m.hostname if m.family == "windows" else private_dns(m)
    add_arc_mirror(ctx, m, out, provider="AWS", tags=tags, detected=detected, fqdn=fqdn)
