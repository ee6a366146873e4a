"""What is installed and running on each planned machine: vocabulary tables and the rule choosing rows.

The vocabulary and the rules are the per-record demo's (``flows.demo.catalog`` and
``flows.demo.inventory.build_inventory``): ordinary programs or packages (85% of the catalogue's 20, so
about 20 software rows per machine with the cloud agents and the EDR), decoys, the Arc agent on mirrored
machines, and the EDR's programs, packages and services in the state the scenario wants.

Each vocabulary is a constant list of structs whose fields start with ``v_``; a rule is a SQL predicate
over a vocabulary row ``x`` and the plan columns (``i, kind, edr, edr_state, mirrored, pkg, downlevel...``).
The same rule serves two forms:

- ``join``: plan rows joined to the vocabulary on the inventory family, filtered by the rule; one output
  row per item, streamed (Change Tracking rows, SSM entries): the cheapest form by far.
- ``listed``: the machine's items as one list (``list_filter`` with the rule), for GCP's ``packages``.
"""

from __future__ import annotations

from typing import Any

from flows.demo.catalog import (
    AGENT_EXTENSIONS,
    DECOY_EXTENSIONS,
    EDR_PRODUCTS,
    FALCON_EXTENSION,
    LINUX_CLOUD_DAEMONS,
    LINUX_CLOUD_PACKAGES,
    LINUX_DAEMONS,
    LINUX_DECOYS,
    LINUX_PACKAGES,
    MDE_EXTENSION,
    OS_IMAGES,
    SENSE_SERVICE,
    WINDOWS_CLOUD_SERVICES,
    WINDOWS_CLOUD_SOFTWARE,
    WINDOWS_DECOYS,
    WINDOWS_SERVICES,
    WINDOWS_SOFTWARE,
)
from flows.demo.scale_sql import assert_json_safe, lit

SOFTWARE_SHARE = 85  # percent of the catalogue's ordinary programs / packages a machine has
TRELLIX_AGENT_DECOY = 3  # WINDOWS_DECOYS[3], the ePO agent: Trellix brings its own


def os_field(getter) -> str:
    """A per-OS value, indexed by the plan's 1-based ``os_idx``."""
    return f"{lit([getter(image) for image in OS_IMAGES])}[os_idx]"


def _arc_os(image, position: int):
    """Arc's osSku / osVersion: its own names, else the cloud's (as the demo's ``arc_record`` does)."""
    if image.arc:
        return image.arc[position]
    other = image.aws or image.gcp
    return other[2 + position] if other else ""


ARC_SKU = os_field(lambda im: _arc_os(im, 0))
ARC_VERSION = os_field(lambda im: _arc_os(im, 1))
RPM = "(pkg IN ('yum', 'zypper'))"


def _software(family: str, grp: str, name: str, publisher: str | None, deb: str, rpm: str | None = None,
              section: str = "", summary: str = "", *, kind: str = "", edr: str = "", j: int = 0,
              downlevel_only: bool = False) -> dict[str, Any]:
    return {"v_family": family, "v_grp": grp, "v_kind": kind, "v_edr": edr, "v_j": j, "v_name": name,
            "v_publisher": publisher, "v_deb": deb, "v_rpm": rpm if rpm is not None else deb,
            "v_section": section, "v_summary": summary, "v_downlevel_only": downlevel_only}


def software_vocabulary() -> list[dict[str, Any]]:
    """Every program / package a machine may list; ``v_publisher`` NULL: the distribution's."""
    rows = [_software("windows", "base", n, p, v, j=j) for j, (n, p, v) in enumerate(WINDOWS_SOFTWARE)]
    rows += [_software("windows", "cloud", n, p, v, kind=k) for k, items in WINDOWS_CLOUD_SOFTWARE.items()
             for n, p, v in items]
    rows += [_software("windows", "decoy", n, p, v, j=j) for j, (n, p, v) in enumerate(WINDOWS_DECOYS)]
    rows.append(_software("windows", "arc", *WINDOWS_CLOUD_SOFTWARE["arc"][0]))
    for key, product in EDR_PRODUCTS.items():
        entries = list(product.windows_software)
        if key.startswith("trellix"):
            entries.append(WINDOWS_DECOYS[TRELLIX_AGENT_DECOY])  # ENS always comes with the ePO agent
        rows += [_software("windows", "edr", n, p, v, edr=key, downlevel_only=key == "mde") for n, p, v in entries]
    rows += [_software("linux", "base", n, None, deb, rpm, sec, summ, j=j)
             for j, (n, deb, rpm, sec, summ) in enumerate(LINUX_PACKAGES)]
    rows += [_software("linux", "cloud", n, None, deb, rpm, sec, summ, kind=k)
             for k, items in LINUX_CLOUD_PACKAGES.items() for n, deb, rpm, sec, summ in items]
    rows += [_software("linux", "linux_decoy", n, None, deb, rpm, sec, summ)
             for n, deb, rpm, sec, summ in LINUX_DECOYS]
    n, deb, rpm, sec, summ = LINUX_CLOUD_PACKAGES["arc"][0]
    rows.append(_software("linux", "arc", n, "Microsoft Corporation", deb, rpm, sec, summ))
    rows += [_software("linux", "edr", n, p, v, None, "misc", f"{n} agent", edr=key)
             for key, product in EDR_PRODUCTS.items() for n, v, p in product.linux_packages]
    return rows


SOFTWARE_RULE = f"""(CASE x.v_grp
    WHEN 'base' THEN hj(i, x.v_j, 'software', 100) < {SOFTWARE_SHARE}
    WHEN 'cloud' THEN x.v_kind = kind
    WHEN 'decoy' THEN u(i, 'decoy') < 0.35 AND x.v_j = hk(i, 'decoy-pick', {len(WINDOWS_DECOYS)})
        AND NOT (x.v_j = {TRELLIX_AGENT_DECOY} AND coalesce(edr, '') LIKE 'trellix%' AND edr_state <> 'none')
    WHEN 'linux_decoy' THEN {RPM} AND u(i, 'linux-decoy') < 0.2
    WHEN 'arc' THEN mirrored
    WHEN 'edr' THEN edr_state <> 'none' AND x.v_edr = edr AND (NOT x.v_downlevel_only OR downlevel)
    ELSE FALSE END)"""
# The item as the machine reports it (over a vocabulary row ``x`` and the plan row).
SOFTWARE_ITEM = {
    "name": "x.v_name",
    "publisher": "coalesce(x.v_publisher, distro_publisher)",
    "version": f"(CASE WHEN {RPM} THEN x.v_rpm ELSE x.v_deb END)",
    "section": "x.v_section",
    "summary": "x.v_summary",
}


def _service(family: str, grp: str, name: str, display: str, state: str | None, start: str = "Auto", *,
             kind: str = "", edr: str = "") -> dict[str, Any]:
    return {"v_family": family, "v_grp": grp, "v_kind": kind, "v_edr": edr, "v_name": name, "v_display": display,
            "v_state": state, "v_start": start}


def services_vocabulary() -> list[dict[str, Any]]:
    """Windows services and Linux daemons; ``v_state`` NULL: the EDR's, running or stopped."""
    rows = [_service("windows", "base", n, d, "Running" if s == "Auto" else "Stopped", s)
            for n, d, s in WINDOWS_SERVICES]
    rows += [_service("windows", "cloud", n, d, "Running", s, kind=k) for k, items in WINDOWS_CLOUD_SERVICES.items()
             for n, d, s in items]
    rows.append(_service("windows", "arc", *WINDOWS_CLOUD_SERVICES["arc"][0][:2], "Running"))
    # Server 2019+ always lists the built-in MDE service: Manual and stopped until MDE is onboarded.
    rows.append(_service("windows", "sense_idle", *SENSE_SERVICE, "Stopped", "Manual"))
    rows.append(_service("windows", "trellix_agent", "masvc", "Trellix Agent Service", "Running"))
    rows += [_service("windows", "edr", n, d, None, edr=key) for key, p in EDR_PRODUCTS.items()
             for n, d in p.windows_services]
    rows += [_service("linux", "base", n, n, "Running") for n in LINUX_DAEMONS]
    rows += [_service("linux", "cloud", n, n, "Running", kind=k) for k, items in LINUX_CLOUD_DAEMONS.items()
             for n in items]
    rows.append(_service("linux", "arc", "himdsd", "himdsd", "Running"))
    rows += [_service("linux", "edr", n, n, None, edr=key) for key, p in EDR_PRODUCTS.items() for n in p.linux_daemons]
    return rows


SERVICE_RULE = """(CASE x.v_grp
    WHEN 'base' THEN TRUE
    WHEN 'cloud' THEN x.v_kind = kind
    WHEN 'arc' THEN mirrored
    WHEN 'sense_idle' THEN NOT downlevel AND (edr_state = 'none' OR edr <> 'mde')
    WHEN 'trellix_agent' THEN coalesce(edr, '') LIKE 'trellix%' AND edr_state <> 'none'
    WHEN 'edr' THEN edr_state <> 'none' AND x.v_edr = edr
    ELSE FALSE END)"""
SERVICE_ITEM = {
    "name": "x.v_name",
    "display": "x.v_display",
    "state": "coalesce(x.v_state, CASE WHEN edr_state = 'running' THEN 'Running' ELSE 'Stopped' END)",
    "start": "x.v_start",
}


def extensions_vocabulary() -> list[dict[str, Any]]:
    """Azure VM / Arc extensions: monitoring agents, the EDR extensions, decoys (not EDR)."""
    def ext(family, grp, name, publisher, ext_type, version, j=0, n=1):
        return {"v_family": family, "v_grp": grp, "v_j": j, "v_n": n, "v_name": name, "v_publisher": publisher,
                "v_type": ext_type, "v_version": version}

    rows = [ext(f, "agents", *e) for f, items in AGENT_EXTENSIONS.items() for e in items]
    rows += [ext(f, "mde", t, p, t, v) for f, (p, t, v) in MDE_EXTENSION.items()]
    rows += [ext(f, "falcon", "CrowdStrikeFalconSensor", p, t, v) for f, (p, t, v) in FALCON_EXTENSION.items()]
    rows += [ext(f, "decoy", *e, j=j, n=len(items)) for f, items in DECOY_EXTENSIONS.items()
             for j, e in enumerate(items)]
    return rows


EXTENSION_RULE = """(CASE x.v_grp
    WHEN 'agents' THEN has_ct OR (scenario = 'no_evidence' AND u(i, 'agents') < 0.5)
    WHEN 'mde' THEN scenario IN ('mde_extension', 'mde_extension_failed')
    WHEN 'falcon' THEN scenario = 'falcon_extension'
    WHEN 'decoy' THEN u(i, 'extensions') < 0.25 AND x.v_j = hk(i, 'ext-decoy-pick', x.v_n)
    ELSE FALSE END)"""
EXTENSION_STATE = ("(CASE WHEN x.v_grp = 'mde' AND scenario = 'mde_extension_failed' THEN 'Failed' "
                   "ELSE 'Succeeded' END)")


def _check(vocabulary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refuse values that would need JSON escaping; number the rows (``v_id``, for per-item draws)."""
    assert_json_safe(v for row in vocabulary for v in row.values())
    return [{**row, "v_id": pos} for pos, row in enumerate(vocabulary)]


SOFTWARE = _check(software_vocabulary())
SERVICES = _check(services_vocabulary())
EXTENSIONS = _check(extensions_vocabulary())


def join(rows: str, vocabulary: list[dict[str, Any]], rule: str, family: str = "inv_family") -> str:
    """``rows`` (plan rows) times the vocabulary rows ``x`` of their family that the rule picks."""
    return (f"(SELECT * FROM {rows} AS p JOIN (SELECT unnest({lit(vocabulary)}, recursive := true)) AS x "
            f"ON x.v_family = p.{family} WHERE {rule})")


def listed(vocabulary: list[dict[str, Any]], rule: str, item: str, family: str = "inv_family") -> str:
    """The machine's items as a list of ``item`` (an expression over a vocabulary row ``x``), for one row
    per machine."""
    per_family = {}
    for row in vocabulary:
        per_family.setdefault(row["v_family"], []).append(row)
    lists = " ".join(f"WHEN {lit(f)} THEN {lit(rows)}" for f, rows in per_family.items())
    return f"list_transform(list_filter((CASE {family} {lists} END), lambda x: {rule}), lambda x: {item})"


# GCP OS Config inventories. The machine's items are chosen on a narrow copy of the software vocabulary
# (``gcp_ids``: the chosen rows' positions ``k``, 0-based); each item's JSON text around the per-machine
# times is precomputed per (row, package manager) and looked up in constant lists, so that an item costs
# one concat. ``p``: the package manager, 0-3 for apt, yum, zypper, cos (Windows rows use ``W_*``).
GCP_PKGS = ("apt", "yum", "zypper", "cos")
GCP_PKG_IDX = "(CASE pkg WHEN 'apt' THEN 0 WHEN 'yum' THEN 1 WHEN 'zypper' THEN 2 ELSE 3 END)"
_RULE_FIELDS = ("v_family", "v_grp", "v_kind", "v_edr", "v_j", "v_downlevel_only", "v_id")


def _gcp_rows() -> list[dict[str, Any]]:
    return [row for row in SOFTWARE if row["v_kind"] in ("", "gcp_vm")]


def gcp_ids() -> str:
    """Positions (0-based, in ``gcp_fragments`` lists) of the software rows the machine lists."""
    rows = [{**{f: row[f] for f in _RULE_FIELDS}, "v_k": k} for k, row in enumerate(_gcp_rows())]
    return listed(rows, SOFTWARE_RULE, "x.v_k")


def gcp_fragments(package_kind: dict[str, str]) -> dict[str, list[Any]]:
    """Constant lists, indexed ``k * 4 + p + 1`` (Linux) or ``k + 1`` (Windows, ``w_*``)."""
    import json

    def obj(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    out: dict[str, list[Any]] = {name: [] for name in (
        "id", "version", "head", "tail", "pending_head", "pending_tail", "name",
        "w_id", "w_head", "w_mid", "w_version", "w_publisher")}
    for row in _gcp_rows():
        name = row["v_name"]
        out["name"].append(name)
        for pkg in GCP_PKGS:
            arch = "amd64" if pkg == "apt" else "x86_64"
            version = row["v_rpm"] if pkg in ("yum", "zypper") else row["v_deb"]
            kind = package_kind[pkg]
            for prefix, head, tail, state, text in (
                ("installedPackage", "head", "tail", "INSTALLED_PACKAGE", version),
                ("availablePackage", "pending_head", "pending_tail", "AVAILABLE_PACKAGE", f"{version}+upd1"),
            ):
                item_id = f"{prefix}-{name}:{arch}:{text}"
                payload = {"packageName": name, "architecture": arch, "version": text}
                out[head].append(f'{obj(item_id)}:{{"id":{obj(item_id)[:-1]}')  # id left open: item_head
                out[tail].append(f'{state}","{prefix}":{{{obj(kind)}:{obj(payload)}}}}}')
            out["id"].append(f"installedPackage-{name}:{arch}:{version}")
            out["version"].append(version)
        item_id = f"installedPackage-{name}:{row['v_deb']}"
        application = {"displayName": name, "displayVersion": row["v_deb"], "publisher": row["v_publisher"]}
        out["w_id"].append(item_id)
        out["w_head"].append(f'{obj(item_id)}:{{"id":{obj(item_id)[:-1]}')
        out["w_mid"].append(f'INSTALLED_PACKAGE","installedPackage":{{"windowsApplication":'
                            f'{obj(application)[:-1]},"installDate":')
        out["w_version"].append(row["v_deb"])
        out["w_publisher"].append(row["v_publisher"])
    return out
