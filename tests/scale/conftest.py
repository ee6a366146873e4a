"""Object storage for the scale-out tests: S3 served by moto's ``ThreadedMotoServer`` with fake credentials.

moto's state is process-wide (every server in the process shares it, and the fake clouds reset it when they
stop), so each test module starts its own server and bucket.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")


# Anything in the environment that would point boto3 or pyarrow's S3 client elsewhere.
AWS_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL",
             "AWS_REGION")


def s3_environment(endpoint: str) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "AKIAEDRCOVSCALE00001", "AWS_SECRET_ACCESS_KEY": "scale-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/nonexistent/edrcov-scale-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/edrcov-scale-credentials",
            "AWS_ENDPOINT_URL_S3": endpoint}


def create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)


@dataclass
class S3:
    endpoint: str
    bucket: str

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def keys(self, prefix: str = "") -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = "http://{}:{}".format(*server.get_host_and_port())
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name in AWS_UNSET:
                mp.delenv(name, raising=False)
            for name, value in s3_environment(endpoint).items():
                mp.setenv(name, value)
            create_bucket(endpoint, "edrcov-lake")
            yield S3(endpoint, "edrcov-lake")
    finally:
        reset_moto(endpoint)
        server.stop()


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass
