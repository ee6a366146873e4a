"""A small AWS estate for the connector tests: moto (EC2, Organizations, STS) plus the SSM fake.

Layout (page sizes in the tests: EC2 5 reservations, ListAccounts 2 accounts, SSM 3 items):
- organization: management account 123456789012 with members A, B, C (ACTIVE) and D (SUSPENDED);
- A us-east-1: 13 reservations (12 of one instance, 1 of two); 7 managed instances (5 Linux, 2 Windows)
  with application and (Windows) service inventory; the last Linux one has no inventory at all;
- A eu-west-1: 2 reservations; 3 managed instances, one malformed (no PingStatus), one deregistered
  from SSM between listing and inventory;
- B us-east-1: 6 reservations; 4 managed Linux instances; C: nothing (its role is denied in tests).
SSM records are cloned from the API-shaped payloads in ``tests/data/aws``.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.fakes.ssm_server import FakeSsm

DATA = Path(__file__).resolve().parents[1] / "data" / "aws"
MANAGEMENT = "123456789012"
ACCESS_KEY = "AKIAEDRCOVTEST000001"
SECRET_KEY = "edrcov-TEST-secret-key-d0-not-leak-7Qx9"  # must never reach the lake or an outcome
CAPTURE = "2026-11-27T02:00:00Z"
WINDOWS_CAPTURE = "2026-11-20T02:00:00Z"
APPS_LINUX, APPS_WINDOWS, SERVICES_WINDOWS = 4, 7, 5
FAKE_PAGE = 3


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def instance_info(instance_id: str, platform: str = "Linux") -> dict[str, Any]:
    """A DescribeInstanceInformation record for ``instance_id`` cloned from the captured page."""
    templates = load("ssm_describe_instance_information.json")["InstanceInformationList"]
    info = copy.deepcopy(templates[0 if platform == "Linux" else 1])
    info["InstanceId"] = info["SourceId"] = instance_id
    return info


def entries(kind: str, count: int) -> list[dict[str, str]]:
    """``count`` inventory entries of ``kind`` (application/service), names made unique."""
    template = load(f"ssm_list_inventory_entries_{kind}.json")["Entries"]
    out = []
    for n in range(count):
        entry = dict(template[n % len(template)])
        entry["Name"] = f"{entry['Name']}-{n}" if n >= len(template) else entry["Name"]
        out.append(entry)
    return out


@dataclass
class Estate:
    moto_url: str
    fake: FakeSsm
    accounts: dict[str, str]  # "A".."D" -> account id
    ec2_ids: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (account, region) -> ids
    managed: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def session(self, account: str) -> boto3.Session:
        """Credentials in ``account`` straight from moto (seeding, not through the fake)."""
        sts = boto3.client("sts", endpoint_url=self.moto_url, region_name="us-east-1")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/Seeder", RoleSessionName="seed")
        c = creds["Credentials"]
        return boto3.Session(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])


@contextmanager
def running_estate() -> Iterator[Estate]:
    """Environment, servers and seeded data, for one test module."""
    with pytest.MonkeyPatch.context() as mp:
        _isolate_environment(mp)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        moto_url = "http://{}:{}".format(*moto.get_host_and_port())
        fake = FakeSsm(page_size=FAKE_PAGE, sts_upstream=moto_url, default_account=MANAGEMENT).start()
        for service in ("EC2", "ORGANIZATIONS"):
            mp.setenv(f"AWS_ENDPOINT_URL_{service}", moto_url)
        for service in ("STS", "SSM"):
            mp.setenv(f"AWS_ENDPOINT_URL_{service}", fake.url)
        try:
            estate = Estate(moto_url, fake, _organization(moto_url))
            _seed(estate)
            yield estate
        finally:
            fake.stop()
            moto.stop()


def _isolate_environment(mp: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_ENDPOINT_URL"):
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    mp.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_CONFIG_FILE", "/nonexistent/edrcov-test-config")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/edrcov-test-credentials")
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _organization(moto_url: str) -> dict[str, str]:
    org = boto3.client("organizations", endpoint_url=moto_url, region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    accounts = {}
    for label in "ABCD":
        request = org.create_account(Email=f"{label.lower()}@example.org", AccountName=f"member-{label}")
        status = org.describe_create_account_status(CreateAccountRequestId=request["CreateAccountStatus"]["Id"])
        accounts[label] = status["CreateAccountStatus"]["AccountId"]
    org.close_account(AccountId=accounts["D"])  # SUSPENDED: must not be planned
    return accounts


def _launch(estate: Estate, account: str, region: str, reservations: int, extra_pair: bool = False) -> None:
    ec2 = estate.session(account).client("ec2", endpoint_url=estate.moto_url, region_name=region)
    ids = []
    for n in range(reservations):
        count = 2 if extra_pair and n == reservations - 1 else 1
        launched = ec2.run_instances(ImageId="ami-12c6146b", MinCount=count, MaxCount=count,
                                     InstanceType="t3.micro",
                                     TagSpecifications=[{"ResourceType": "instance",
                                                         "Tags": [{"Key": "Name", "Value": f"web-{n}"}]}])
        ids += [instance["InstanceId"] for instance in launched["Instances"]]
    estate.ec2_ids[(account, region)] = ids


def _manage(estate: Estate, account: str, region: str, infos: list[dict[str, Any]]) -> None:
    estate.fake.add_instances(account, region, infos)
    estate.managed[(account, region)] = infos


def _seed(estate: Estate) -> None:
    a, b = estate.accounts["A"], estate.accounts["B"]
    _launch(estate, a, "us-east-1", 13, extra_pair=True)
    _launch(estate, a, "eu-west-1", 2)
    _launch(estate, b, "us-east-1", 6)
    _seed_a_us(estate, a)
    _seed_a_eu(estate, a)
    _manage(estate, b, "us-east-1", [instance_info(i) for i in estate.ec2_ids[(b, "us-east-1")][:4]])
    for info in estate.managed[(b, "us-east-1")]:
        estate.fake.add_inventory(b, "us-east-1", info["InstanceId"], "AWS:Application",
                                  entries("application", APPS_LINUX), CAPTURE)


def _seed_a_us(estate: Estate, account: str) -> None:
    ids = estate.ec2_ids[(account, "us-east-1")][:7]
    infos = [instance_info(i, "Windows" if n >= 5 else "Linux") for n, i in enumerate(ids)]
    _manage(estate, account, "us-east-1", infos)
    for info in infos[:4]:
        estate.fake.add_inventory(account, "us-east-1", info["InstanceId"], "AWS:Application",
                                  entries("application", APPS_LINUX), CAPTURE)
    for info in infos[5:]:
        estate.fake.add_inventory(account, "us-east-1", info["InstanceId"], "AWS:Application",
                                  entries("application", APPS_WINDOWS), WINDOWS_CAPTURE)
        estate.fake.add_inventory(account, "us-east-1", info["InstanceId"], "AWS:Service",
                                  entries("service", SERVICES_WINDOWS), WINDOWS_CAPTURE, schema_version="1.0")


def _seed_a_eu(estate: Estate, account: str) -> None:
    ids = estate.ec2_ids[(account, "eu-west-1")]
    malformed = instance_info("i-0badbadbadbadbad0")
    del malformed["PingStatus"]  # required by the extractor: this record must be rejected, not dropped
    gone = instance_info("i-0e0e0e0e0e0e0e0e0")
    _manage(estate, account, "eu-west-1", [instance_info(ids[0]), malformed, gone])
    for info in (estate.managed[(account, "eu-west-1")][0], malformed):
        estate.fake.add_inventory(account, "eu-west-1", info["InstanceId"], "AWS:Application",
                                  entries("application", 2), CAPTURE)
    estate.fake.deregister(account, "eu-west-1", gone["InstanceId"])
