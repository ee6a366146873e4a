"""The demo estate's vocabularies: operating systems, ordinary software, decoys and EDR evidence.

Names follow what the real inventories report (Programs and Features display names on Windows, package
names on Linux, service short names), as collected in the EDR research notes. Decoys are real products
whose names look like an EDR but are not one (a VPN client, a backup product, a management agent, the
built-in antivirus): a coverage model that flags them has a false positive.
"""

from __future__ import annotations

from dataclasses import dataclass

TEAMS = ("payments", "identity", "data-platform", "web", "sre", "finance-apps", "ml-research", "corp-it")
TEAM_PREFIX = {
    "payments": "pay",
    "identity": "idp",
    "data-platform": "dp",
    "web": "web",
    "sre": "sre",
    "finance-apps": "fin",
    "ml-research": "ml",
    "corp-it": "it",
}
ROLES = ("api", "app", "db", "batch", "web", "worker", "jump", "etl", "cache", "file")
ENVS = (("prd", 0.6), ("stg", 0.15), ("dev", 0.25))


@dataclass(frozen=True)
class OsImage:
    """One operating system as each cloud describes it.

    ``azure`` = (image publisher, offer, sku, instanceView osName, osVersion); ``arc`` = (osSku, osVersion);
    ``aws`` = (PlatformDetails, UsageOperation, SSM PlatformName, SSM PlatformVersion); ``gcp`` = (license
    project, license, osInfo longName, shortName, version). ``None`` where the OS does not run there.
    """

    key: str
    family: str  # windows | linux | unsupported
    pkg: str  # windows | apt | yum | zypper | cos | none
    weight: float
    azure: tuple[str, str, str, str, str] | None = None
    arc: tuple[str, str] | None = None
    aws: tuple[str, str, str, str] | None = None
    gcp: tuple[str, str, str, str, str] | None = None

    @property
    def downlevel(self) -> bool:
        """Windows Server 2012 R2 / 2016 run MDE as the unified-solution MSI, not the built-in Sense."""
        return self.key in ("ws2012r2", "ws2016")


def _win(key: str, weight: float, sku: str, name: str, version: str, gcp_license: str) -> OsImage:
    short = version.rsplit(".", 1)[0]
    return OsImage(
        key,
        "windows",
        "windows",
        weight,
        azure=("MicrosoftWindowsServer", "WindowsServer", sku, name, version),
        arc=(name.replace(" Azure Edition", ""), version),
        aws=("Windows", "RunInstances:0002", f"Microsoft {name.replace(' Azure Edition', '')}", short),
        gcp=(
            "windows-cloud",
            gcp_license,
            f"Microsoft {name.replace(' Azure Edition', '')}",
            "windows",
            short,
        ),
    )


OS_IMAGES: tuple[OsImage, ...] = (
    _win(
        "ws2012r2",
        0.08,
        "2012-R2-Datacenter",
        "Windows Server 2012 R2 Datacenter",
        "6.3.9600.21620",
        "windows-server-2012-r2-dc",
    ),
    _win(
        "ws2016",
        0.22,
        "2016-Datacenter",
        "Windows Server 2016 Datacenter",
        "10.0.14393.6897",
        "windows-server-2016-dc",
    ),
    _win(
        "ws2019",
        0.38,
        "2019-datacenter-gensecond",
        "Windows Server 2019 Datacenter",
        "10.0.17763.5696",
        "windows-server-2019-dc",
    ),
    _win(
        "ws2022",
        0.32,
        "2022-datacenter-azure-edition",
        "Windows Server 2022 Datacenter Azure Edition",
        "10.0.20348.2402",
        "windows-server-2022-dc",
    ),
    OsImage(
        "ubuntu2204",
        "linux",
        "apt",
        0.22,
        azure=("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "ubuntu", "22.04"),
        arc=("Ubuntu 22.04.4 LTS", "5.15.0-105-generic"),
        aws=("Linux/UNIX", "RunInstances", "Ubuntu", "22.04"),
        gcp=("ubuntu-os-cloud", "ubuntu-2204-lts", "Ubuntu 22.04.4 LTS", "ubuntu", "22.04"),
    ),
    OsImage(
        "ubuntu2004",
        "linux",
        "apt",
        0.12,
        azure=("Canonical", "0001-com-ubuntu-server-focal", "20_04-lts-gen2", "ubuntu", "20.04"),
        arc=("Ubuntu 20.04.6 LTS", "5.4.0-177-generic"),
        aws=("Linux/UNIX", "RunInstances", "Ubuntu", "20.04"),
        gcp=("ubuntu-os-cloud", "ubuntu-2004-lts", "Ubuntu 20.04.6 LTS", "ubuntu", "20.04"),
    ),
    OsImage(
        "rhel9",
        "linux",
        "yum",
        0.13,
        azure=("RedHat", "RHEL", "9_3", "redhat", "9.3"),
        arc=("Red Hat Enterprise Linux 9.3 (Plow)", "5.14.0-362.24.1.el9_3.x86_64"),
        aws=("Red Hat Enterprise Linux", "RunInstances:0010", "Red Hat Enterprise Linux", "9.3"),
        gcp=("rhel-cloud", "rhel-9-server", "Red Hat Enterprise Linux 9.3 (Plow)", "rhel", "9.3"),
    ),
    OsImage(
        "rhel8",
        "linux",
        "yum",
        0.10,
        azure=("RedHat", "RHEL", "8_9", "redhat", "8.9"),
        arc=("Red Hat Enterprise Linux 8.9 (Ootpa)", "4.18.0-513.24.1.el8_9.x86_64"),
        aws=("Red Hat Enterprise Linux", "RunInstances:0010", "Red Hat Enterprise Linux", "8.9"),
        gcp=("rhel-cloud", "rhel-8-server", "Red Hat Enterprise Linux 8.9 (Ootpa)", "rhel", "8.9"),
    ),
    OsImage("amzn2023", "linux", "yum", 0.20, aws=("Linux/UNIX", "RunInstances", "Amazon Linux", "2023")),
    OsImage("amzn2", "linux", "yum", 0.08, aws=("Linux/UNIX", "RunInstances", "Amazon Linux", "2")),
    OsImage(
        "debian12",
        "linux",
        "apt",
        0.12,
        azure=("Debian", "debian-12", "12-gen2", "debian", "12.5"),
        arc=("Debian GNU/Linux 12 (bookworm)", "6.1.0-20-amd64"),
        aws=("Linux/UNIX", "RunInstances", "Debian GNU/Linux", "12"),
        gcp=("debian-cloud", "debian-12-bookworm", "Debian GNU/Linux 12 (bookworm)", "debian", "12"),
    ),
    OsImage(
        "sles15",
        "linux",
        "zypper",
        0.07,
        azure=("SUSE", "sles-15-sp5", "gen2", "sles", "15.5"),
        arc=("SUSE Linux Enterprise Server 15 SP5", "5.14.21-150500.55.52-default"),
        aws=("SUSE Linux", "RunInstances:000g", "SLES", "15.5"),
        gcp=("suse-cloud", "sles-15", "SUSE Linux Enterprise Server 15 SP5", "sles", "15-SP5"),
    ),
    # Unsupported by every EDR in the catalogue: the not_applicable case.
    OsImage(
        "freebsd14",
        "unsupported",
        "none",
        1.0,
        azure=("thefreebsdfoundation", "freebsd-14_0", "14_0-release-amd64-gen2-zfs", "freebsd", "14.0"),
        aws=("Linux/UNIX", "RunInstances", "FreeBSD", "14.0"),
    ),
    OsImage(
        "fortigate",
        "unsupported",
        "none",
        1.0,
        azure=("fortinet", "fortinet_fortigate-vm_v5", "fortinet_fg-vm_payg_2023", "", ""),
    ),
    OsImage(
        "cos",
        "unsupported",
        "cos",
        1.0,
        gcp=("cos-cloud", "cos", "Container-Optimized OS from Google", "cos", "109"),
    ),
)
OS_BY_KEY = {image.key: image for image in OS_IMAGES}

# Share of Windows among each kind's supported machines (about 45% of the estate overall).
WINDOWS_SHARE = {"azure_vm": 0.55, "arc": 0.60, "ec2": 0.38, "gcp_vm": 0.30}
KIND_OS_FIELD = {"azure_vm": "azure", "arc": "arc", "ec2": "aws", "gcp_vm": "gcp"}


def images_for(kind: str, family: str) -> list[OsImage]:
    """The images of ``family`` that exist on ``kind`` (Amazon Linux only on EC2, COS only on GCP...)."""
    field = KIND_OS_FIELD[kind]
    return [image for image in OS_IMAGES if image.family == family and getattr(image, field) is not None]


# (display name, publisher, version): Programs and Features entries.
WINDOWS_SOFTWARE = (
    ("7-Zip 23.01 (x64)", "Igor Pavlov", "23.01"),
    ("Notepad++ (64-bit x64)", "Notepad++ Team", "8.6.4"),
    ("Google Chrome", "Google LLC", "124.0.6367.119"),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.38.33135",
        "Microsoft Corporation",
        "14.38.33135.0",
    ),
    (
        "Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33135",
        "Microsoft Corporation",
        "14.38.33135.0",
    ),
    ("Microsoft Edge", "Microsoft Corporation", "124.0.2478.67"),
    ("PowerShell 7-x64", "Microsoft Corporation", "7.4.2.0"),
    ("Git", "The Git Development Community", "2.44.0"),
    ("Python 3.11.9 (64-bit)", "Python Software Foundation", "3.11.9150.0"),
    ("Mozilla Firefox (x64 en-US)", "Mozilla", "125.0.3"),
    ("Microsoft SQL Server 2019 (64-bit)", "Microsoft Corporation", "15.0.2000.5"),
    ("Microsoft .NET Runtime - 8.0.4 (x64)", "Microsoft Corporation", "64.16.20323"),
    ("Adobe Acrobat Reader DC", "Adobe Systems Incorporated", "24.002.20687"),
    ("Datadog Agent", "Datadog, Inc.", "7.52.1.1"),
    ("UniversalForwarder", "Splunk, Inc.", "9.2.1.0"),
    ("WinRAR 7.00 (64-bit)", "win.rar GmbH", "7.00.0"),
    ("Microsoft ODBC Driver 17 for SQL Server", "Microsoft Corporation", "17.10.6.1"),
    ("Java 8 Update 411 (64-bit)", "Oracle Corporation", "8.0.4110.9"),
    ("VLC media player", "VideoLAN", "3.0.20"),
    ("Microsoft Monitoring Agent", "Microsoft Corporation", "10.20.18069.0"),
)
WINDOWS_CLOUD_SOFTWARE = {
    "azure_vm": (("Windows Azure VM Agent - 2.7.41491.1102", "Microsoft Corporation", "2.7.41491.1102"),),
    "arc": (
        ("Azure Connected Machine Agent", "Microsoft Corporation", "1.41.02664.1629"),
        ("VMware Tools", "VMware, Inc.", "12.3.5.22544099"),
    ),
    "ec2": (
        ("Amazon SSM Agent", "Amazon Web Services", "3.3.380.0"),
        ("aws-cfn-bootstrap", "Amazon Web Services", "2.0.29"),
        ("AWS Tools for Windows", "Amazon Web Services Developer Relations", "4.1.529"),
        ("AWS PV Drivers", "Amazon Web Services", "8.4.3"),
    ),
    "gcp_vm": (),
}
# Look like an EDR, are not one: a browser add-on, a backup product, a VPN client, the ePO agent, a console.
WINDOWS_DECOYS = (
    ("McAfee WebAdvisor", "McAfee, LLC", "4.1.1.883"),
    ("Symantec Backup Exec", "Symantec Corporation", "20.0.1188.2734"),
    ("Sophos Connect", "Sophos Limited", "2.2.90.1104"),
    ("McAfee Agent", "McAfee, Inc.", "5.7.9.139"),
    ("Symantec Endpoint Protection Manager", "Broadcom", "14.3.9681.7000"),
)
# (service name, display name, start type): a Windows server's usual services.
WINDOWS_SERVICES = (
    ("WinDefend", "Microsoft Defender Antivirus Service", "Auto"),  # antivirus, not EDR
    ("wuauserv", "Windows Update", "Manual"),
    ("W32Time", "Windows Time", "Auto"),
    ("Dnscache", "DNS Client", "Auto"),
    ("EventLog", "Windows Event Log", "Auto"),
    ("LanmanServer", "Server", "Auto"),
    ("WinRM", "Windows Remote Management (WS-Management)", "Auto"),
    ("Spooler", "Print Spooler", "Auto"),
    ("TermService", "Remote Desktop Services", "Manual"),
    ("MpsSvc", "Windows Defender Firewall", "Auto"),
)
WINDOWS_CLOUD_SERVICES = {
    "azure_vm": (
        ("WindowsAzureGuestAgent", "Windows Azure Guest Agent", "Auto"),
        ("RdAgent", "RdAgent", "Auto"),
    ),
    "arc": (
        ("himds", "Azure Hybrid Instance Metadata Service", "Auto"),
        ("GCArcService", "Guest Configuration Arc Service", "Auto"),
    ),
    "ec2": (("AmazonSSMAgent", "Amazon SSM Agent", "Auto"),),
    "gcp_vm": (("GCEAgent", "Google Compute Engine Agent", "Auto"),),
}
# Built into Server 2019+: present but stopped and Manual until the machine is onboarded to MDE.
SENSE_SERVICE = ("Sense", "Windows Defender Advanced Threat Protection Service")

# (package, deb version, rpm version, deb section / rpm group, summary)
LINUX_PACKAGES = (
    ("openssh-server", "1:8.9p1-3ubuntu0.10", "8.7p1-38.el9", "net", "secure shell (SSH) server"),
    ("curl", "7.81.0-1ubuntu1.16", "7.76.1-29.el9_4", "web", "command line tool for transferring data"),
    (
        "python3",
        "3.10.6-1~22.04",
        "3.9.18-3.el9",
        "python",
        "interactive high-level object-oriented language",
    ),
    ("bash", "5.1-6ubuntu1.1", "5.1.8-9.el9", "shells", "GNU Bourne Again SHell"),
    ("openssl", "3.0.2-0ubuntu1.15", "3.0.7-27.el9", "utils", "Secure Sockets Layer toolkit"),
    ("sudo", "1.9.9-1ubuntu2.4", "1.9.5p2-10.el9_3", "admin", "Provide limited super user privileges"),
    (
        "rsyslog",
        "8.2112.0-2ubuntu2.2",
        "8.2310.0-4.el9",
        "admin",
        "reliable system and kernel logging daemon",
    ),
    ("vim", "2:8.2.3995-1ubuntu2.16", "8.2.2637-20.el9_1", "editors", "Vi IMproved"),
    ("git", "1:2.34.1-1ubuntu1.11", "2.43.0-1.el9", "vcs", "fast, scalable, distributed revision control"),
    ("wget", "1.21.2-2ubuntu1", "1.21.1-7.el9", "web", "retrieves files from the web"),
    (
        "ca-certificates",
        "20230311ubuntu0.22.04.1",
        "2023.2.60_v7.0.306-90.1.el9_2",
        "misc",
        "Common CA certificates",
    ),
    ("systemd", "249.11-0ubuntu3.12", "252-32.el9_4", "admin", "system and service manager"),
    ("tzdata", "2024a-0ubuntu0.22.04", "2024a-1.el9", "libs", "time zone and daylight-saving time data"),
    ("chrony", "4.2-2ubuntu2", "4.5-1.el9", "net", "Versatile implementation of NTP"),
    ("nginx", "1.18.0-6ubuntu14.4", "1.20.1-14.el9_2.1", "httpd", "small, powerful, scalable web server"),
    (
        "docker-ce",
        "5:26.1.1-1~ubuntu.22.04~jammy",
        "3:26.1.1-1.el9",
        "admin",
        "Docker: the open-source engine",
    ),
    ("jq", "1.6-2.1ubuntu3", "1.6-16.el9", "utils", "lightweight and flexible command-line JSON processor"),
    ("unzip", "6.0-26ubuntu3.2", "6.0-56.el9", "utils", "De-archiver for .zip files"),
    ("cron", "3.0pl1-137ubuntu3", "1.5.7-11.el9", "admin", "process scheduling daemon"),
    ("clamav", "0.103.11+dfsg-0ubuntu0.22.04.1", "1.0.6-1.el9", "utils", "anti-virus utility for Unix"),
)
LINUX_CLOUD_PACKAGES = {
    "azure_vm": (("walinuxagent", "2.2.46-0ubuntu5.1", "2.7.0.6-10.el9", "admin", "Azure Linux agent"),),
    "arc": (("azcmagent", "1.41.02664.1629", "1.41.02664.1629", "admin", "Azure Connected Machine Agent"),),
    "ec2": (("amazon-ssm-agent", "3.3.380.0-1", "3.3.380.0-1.amzn2023", "admin", "Amazon SSM Agent"),),
    "gcp_vm": (
        ("google-guest-agent", "1:20240314.00-g1", "1:20240314.00-g1.el9", "admin", "Google guest agent"),
        (
            "google-osconfig-agent",
            "1:20240320.00-g1",
            "1:20240320.00-g1.el9",
            "admin",
            "Google OS Config agent",
        ),
    ),
}
# The McAfee/Trellix ePO agent alone is management, not EDR.
LINUX_DECOYS = (("MFEcma", "5.7.9-139", "5.7.9-139", "misc", "McAfee Agent"),)
LINUX_DAEMONS = ("sshd", "cron", "rsyslog", "chronyd", "systemd-journald", "dbus", "polkit")
LINUX_CLOUD_DAEMONS = {
    "azure_vm": ("walinuxagent", "azuremonitoragent"),
    "arc": ("himdsd", "gcad"),
    "ec2": ("amazon-ssm-agent",),
    "gcp_vm": ("google-guest-agent",),
}
DISTRO_PUBLISHER = {
    "ubuntu2204": "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
    "ubuntu2004": "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>",
    "debian12": "Debian Maintainers <debian-devel@lists.debian.org>",
    "rhel9": "Red Hat, Inc.",
    "rhel8": "Red Hat, Inc.",
    "amzn2023": "Amazon Linux",
    "amzn2": "Amazon Linux",
    "sles15": "SUSE LLC <https://www.suse.com/>",
}


@dataclass(frozen=True)
class EdrProduct:
    """Where one EDR shows itself: Windows programs and services, Linux packages and daemons, extensions.

    ``discovered_by_defender`` says whether Defender for Cloud's agentless EDR check knows the product
    (SentinelOne and Cortex XDR are not in its list), which decides whether its assessment says Healthy.
    """

    key: str
    windows_software: tuple[tuple[str, str, str], ...]
    windows_services: tuple[tuple[str, str], ...]
    linux_packages: tuple[tuple[str, str, str], ...]  # (package, version, publisher)
    linux_daemons: tuple[str, ...]
    discovered_by_defender: bool = True


EDR_PRODUCTS: dict[str, EdrProduct] = {
    p.key: p
    for p in (
        EdrProduct(
            "mde",
            (("Microsoft Defender for Endpoint", "Microsoft Corporation", "4.18.24030.9"),),
            (SENSE_SERVICE,),
            (("mdatp", "101.24032.0007", "Microsoft"),),
            ("mdatp",),
        ),
        EdrProduct(
            "crowdstrike",
            (
                ("CrowdStrike Windows Sensor", "CrowdStrike, Inc.", "7.14.18408.0"),
                ("CrowdStrike Sensor Platform", "CrowdStrike, Inc.", "7.14.18408.0"),
            ),
            (("CSFalconService", "CrowdStrike Falcon Sensor Service"),),
            (("falcon-sensor", "7.14.0-16703", "CrowdStrike, Inc."),),
            ("falcon-sensor",),
        ),
        EdrProduct(
            "trellix",
            (
                ("Trellix Endpoint Security Platform", "Musarubra US LLC", "10.7.0.6421"),
                ("Trellix Endpoint Security Threat Prevention", "Musarubra US LLC", "10.7.0.6421"),
            ),
            (("mfemms", "Trellix Service Controller"),),
            (("McAfeeESP", "10.7.18-13", "Trellix"), ("McAfeeTP", "10.7.18-42", "Trellix")),
            ("mfetpd", "mfeespd"),
        ),
        # The same product under its pre-2022 McAfee names, still common on older servers.
        EdrProduct(
            "trellix_legacy",
            (
                ("McAfee Endpoint Security Platform", "McAfee, LLC", "10.7.0.3299"),
                ("McAfee Endpoint Security Threat Prevention", "McAfee, LLC", "10.7.0.3299"),
            ),
            (("mfemms", "McAfee Service Controller"),),
            (("McAfeeESP", "10.7.9-21", "McAfee"), ("McAfeeTP", "10.7.9-37", "McAfee")),
            ("mfetpd", "mfeespd"),
        ),
        EdrProduct(
            "symantec",
            (("Symantec Endpoint Protection", "Broadcom", "14.3.9681.7000"),),
            (("SepMasterService", "Symantec Endpoint Protection"),),
            (("sdcss-sepagent", "14.3.1169-0100", "Broadcom"), ("sdcss-kmod", "14.3.1169-0100", "Broadcom")),
            ("sisamddaemon",),
        ),
        EdrProduct(
            "sophos",
            (
                ("Sophos Endpoint Agent", "Sophos Limited", "2023.2.2.1"),
                ("Sophos Endpoint Defense", "Sophos Limited", "2023.2.1.13"),
            ),
            (("Sophos Endpoint Defense Service", "Sophos Endpoint Defense Service"),),
            (),
            ("sophos-spl",),
        ),  # Sophos for Linux installs from a script: no package to inventory
        EdrProduct(
            "sentinelone",
            (("Sentinel Agent", "SentinelOne", "23.4.4.223"),),
            (("SentinelAgent", "Sentinel Agent"),),
            (("SentinelAgent", "23.4.2.14", "SentinelOne"),),
            ("sentinelone",),
            discovered_by_defender=False,
        ),
        EdrProduct(
            "cortex_xdr",
            (("Cortex XDR 8.3.1.27351", "Palo Alto Networks", "8.3.1.27351"),),
            (("cyserver", "Cortex XDR"),),
            (("cortex-agent", "8.3.1.127891", "Palo Alto Networks"),),
            ("traps_pmd",),
            discovered_by_defender=False,
        ),
    )
}
# How often each third-party EDR is the one installed.
THIRD_PARTY_WEIGHTS = (
    ("crowdstrike", 0.34),
    ("trellix", 0.07),
    ("trellix_legacy", 0.08),
    ("symantec", 0.15),
    ("sophos", 0.10),
    ("sentinelone", 0.16),
    ("cortex_xdr", 0.10),
)

# (publisher, type, version) of the Azure VM / Arc extensions we generate.
MDE_EXTENSION = {
    "windows": ("Microsoft.Azure.AzureDefenderForServers", "MDE.Windows", "1.0"),
    "linux": ("Microsoft.Azure.AzureDefenderForServers", "MDE.Linux", "1.0"),
}
FALCON_EXTENSION = {
    "windows": ("Crowdstrike.Falcon", "FalconSensorWindows", "1.0"),
    "linux": ("Crowdstrike.Falcon", "FalconSensorLinux", "1.0"),
}
AGENT_EXTENSIONS = {
    "windows": (
        ("AzureMonitorWindowsAgent", "Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent", "1.25"),
        (
            "ChangeTracking-Windows",
            "Microsoft.Azure.ChangeTrackingAndInventory",
            "ChangeTracking-Windows",
            "2.20",
        ),
    ),
    "linux": (
        ("AzureMonitorLinuxAgent", "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.30"),
        (
            "ChangeTracking-Linux",
            "Microsoft.Azure.ChangeTrackingAndInventory",
            "ChangeTracking-Linux",
            "2.20",
        ),
    ),
}
# Extensions that are not EDR: Microsoft Antimalware (AV only) and the guest configuration agent.
DECOY_EXTENSIONS = {
    "windows": (
        ("IaaSAntimalware", "Microsoft.Azure.Security", "IaaSAntimalware", "1.3"),
        ("AzurePolicyforWindows", "Microsoft.GuestConfiguration", "ConfigurationforWindows", "1.29"),
    ),
    "linux": (("AzurePolicyforLinux", "Microsoft.GuestConfiguration", "ConfigurationForLinux", "1.26"),),
}

EXEMPTION_REASONS = (
    ("Latency-sensitive trading engine, vendor-approved (CAB-2231)", "latency-sensitive-trading-engine"),
    ("Vendor-managed appliance, no agents allowed (CAB-1980)", "vendor-managed-appliance"),
    ("Decommissioning in progress (CHG-48812)", "decommissioning"),
    ("Isolated lab host without network egress (RISK-117)", "isolated-lab-host"),
)
