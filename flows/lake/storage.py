"""Where the lake lives: a local folder, or an object-store URL, behind the few operations the lake needs.

``LakeStorage.of(location)`` takes a local path or a URL and gives one ``pyarrow.fs.FileSystem`` plus the
lake's root inside it:

* a path (or ``file://``): the local filesystem, exactly as before;
* ``s3://bucket/prefix``: pyarrow's native S3 client (the AWS SDK's credential chain; the endpoint from
  ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` for S3-compatible stores and tests; options such as
  ``?region=eu-west-1`` or ``?endpoint_override=host:9000&scheme=http`` in the URL);
* ``gs://bucket/prefix`` (or ``gcs://``): pyarrow's native GCS client (application default credentials);
* ``az://container/prefix`` (account from ``?account_name=`` or ``AZURE_STORAGE_ACCOUNT_NAME``) and
  ``abfs[s]://container@account.dfs.core.windows.net/prefix``: pyarrow's native Azure client;
* any other protocol fsspec knows (``memory://``, or one an fsspec package installed by the user provides),
  wrapped with ``pyarrow.fs.PyFileSystem(FSSpecHandler(...))``.

Native pyarrow clients rather than s3fs/gcsfs/adlfs: they ship inside the pyarrow wheel the lake already
needs, and s3fs would pin botocore (through aiobotocore) below the boto3 the connectors use.

Publishing a partition
----------------------
Locally a run stages under ``<lake>/_staging/<run_id>/`` and swaps each ``snapshot_date=D`` folder in with
two renames (``flows.lake.writer.swap_partition``); readers glob ``snapshot_date=*/*.parquet``.

Object stores have no atomic directory rename (S3 "renames" are copy + delete, one object at a time), so a
reader could see half a partition. Instead:

1. workers write their files straight into the final partition under names carrying the run
   (``part-<run_id>--<scope>-<uuid>.parquet``). An object appears whole or not at all (a multipart upload
   that is never completed leaves nothing), so a file is never half-written, but a *partition* may hold the
   files of a run still running or of one that crashed;
2. the commit writes one small manifest object per partition, *last*:
   ``_SUCCESS-<commit stamp>-<run_id>.json`` listing the partition's files of that run;
3. readers take, per partition, exactly the files listed by the newest manifest (stamps are fixed-width
   UTC microseconds, so the newest is the greatest name; a commit never stamps below an existing manifest,
   whatever the machine's clock). A partition with no manifest, or whose newest manifest lists no file,
   does not exist for readers;
4. after the manifest is written, everything else in the partition (older runs' files, older manifests,
   a crashed run's orphans) is deleted.

So a crash before step 2 leaves the previous night's manifest the newest: readers see the previous
partition, and the orphans go at the next commit of that date. A rerun of the same date writes a newer
manifest naming only its own files: it replaces, never adds. The manifest is a single PUT, which is atomic
on S3, GCS and Azure Blob, and all three list strongly consistently, so the commit finds every file the
workers wrote. This was chosen over "stage, copy, then mark" because it writes every byte once and needs
no copy step whose own crash would have to be recovered from. Two runs of the *same* date at the same time
are not supported (locally neither): the later commit would delete the other's files.

The files are still laid out ``raw/<dataset>/snapshot_date=D/*.parquet``; a tool that ignores manifests
(Athena, Spark) would see a crashed run's orphans until the next commit of that date.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pyarrow.fs as pafs

MANIFEST_PREFIX = "_SUCCESS-"
MANIFEST_SUFFIX = ".json"
_STAMP = "%Y%m%dT%H%M%S%fZ"
# URL options passed to pyarrow's S3FileSystem. Never credentials: the URL travels as a flow parameter
# (kept by the Prefect API) and in task inputs; keys come from the AWS credential chain.
_S3_OPTIONS = {"region", "endpoint_override", "scheme", "role_arn", "anonymous", "allow_bucket_creation",
               "allow_delayed_open", "request_timeout", "connect_timeout"}
_SECRET_WORDS = ("key", "secret", "token", "password", "sas", "credential")
_S3_FLAGS = ("anonymous", "allow_bucket_creation", "allow_delayed_open")


class StorageError(ValueError):
    """A lake location that cannot be used."""


def is_url(location: str | Path) -> bool:
    """True for object-store URLs (``s3://...``); False for local paths and ``file://`` URLs."""
    text = str(location)
    return isinstance(location, str) and "://" in text and not text.startswith("file://")


@dataclass(frozen=True)
class LakeStorage:
    """A lake root: ``fs`` and the root path in it (``bucket/prefix``, or an absolute local folder)."""

    location: str  # as given: a URL (options included) or a local path
    fs: pafs.FileSystem
    root: str
    local: bool

    @classmethod
    def of(cls, location: str | Path | LakeStorage) -> LakeStorage:
        if isinstance(location, LakeStorage):
            return location
        if not is_url(location):
            text = str(location)
            path = Path(text.removeprefix("file://")).resolve()
            return cls(str(path), pafs.LocalFileSystem(), path.as_posix(), True)
        fs, root = _open_url(str(location))
        return cls(str(location), fs, root.rstrip("/"), False)

    # -- paths ---------------------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """A path inside ``fs`` below the lake root."""
        return posixpath.join(self.root, *parts) if parts else self.root

    def url(self, *parts: str) -> str:
        """The location of ``parts`` for messages (the URL without its options, or the local path)."""
        base = self.location.split("?", 1)[0].rstrip("/")
        return "/".join([base, *parts])

    # -- files ---------------------------------------------------------------------------------------------------
    def open_output(self, path: str):
        """An output stream; on object storage the object appears only when the stream is closed."""
        if self.local:
            self.fs.create_dir(posixpath.dirname(path), recursive=True)
        return self.fs.open_output_stream(path)

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.open_output(path) as stream:
            stream.write(data)

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as stream:
            return stream.read()

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def entries(self, path: str) -> list[pafs.FileInfo]:
        """The direct children of ``path`` (none when it does not exist)."""
        return self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))

    def dirs(self, path: str) -> list[str]:
        return sorted(e.base_name for e in self.entries(path) if e.type == pafs.FileType.Directory)

    def files(self, path: str) -> list[str]:
        return sorted(e.base_name for e in self.entries(path) if e.type == pafs.FileType.File)

    def delete_file(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(path)

    def delete_dir(self, path: str) -> None:
        if self.exists(path):
            self.fs.delete_dir(path)

    def rename(self, source: str, target: str) -> None:
        """An atomic rename: local filesystems only (object stores copy and delete)."""
        if not self.local:
            raise StorageError(f"{self.url()}: object stores have no atomic rename")
        self.fs.move(source, target)


def secret_options(url: str) -> list[str]:
    """Query options of ``url`` that look like credentials (refused: see ``_S3_OPTIONS``)."""
    return sorted(k for k, _ in parse_qsl(urlsplit(url).query) if any(w in k.lower() for w in _SECRET_WORDS))


def _open_url(url: str) -> tuple[pafs.FileSystem, str]:
    parts = urlsplit(url)
    scheme, options = parts.scheme.lower(), dict(parse_qsl(parts.query))
    if secret_options(url):
        raise StorageError(f"{url.split('?', 1)[0]}: credentials ({', '.join(secret_options(url))}) do not belong "
                           "in the URL; use the store's credential chain (environment, profile, identity)")
    bucket_path = f"{parts.netloc}{parts.path}"
    if not parts.netloc:
        raise StorageError(f"{url}: no bucket or container in the URL")
    if scheme == "s3":
        return _s3(parts.netloc, options), bucket_path
    if scheme in ("gs", "gcs"):  # application default credentials
        return _native(pafs.GcsFileSystem, url, options), bucket_path
    if scheme == "az":  # an account key from the environment, else Azure's default credential chain
        account = options.pop("account_name", None) or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
        if not account:
            raise StorageError(f"{url}: az:// needs ?account_name= or AZURE_STORAGE_ACCOUNT_NAME")
        options.update(account_name=account, account_key=os.environ.get("AZURE_STORAGE_ACCOUNT_KEY"))
        return _native(pafs.AzureFileSystem, url, options), bucket_path
    if scheme in ("abfs", "abfss"):
        return pafs.FileSystem.from_uri(url)
    return _fsspec(url)


def _native(cls, url: str, options: dict[str, object]) -> pafs.FileSystem:
    for flag in ("anonymous",):
        if flag in options:
            options[flag] = str(options[flag]).lower() in ("1", "true", "yes")
    try:
        return cls(**options)
    except TypeError as exc:
        raise StorageError(f"{url.split('?', 1)[0]}: unknown option in the URL: {exc}") from None


def _s3(bucket: str, options: dict[str, str]) -> pafs.S3FileSystem:
    unknown = set(options) - _S3_OPTIONS
    if unknown:
        raise StorageError(f"s3://{bucket}: unknown option(s) {', '.join(sorted(unknown))}")
    kwargs: dict[str, object] = dict(options)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if "endpoint_override" not in kwargs and endpoint:
        split = urlsplit(endpoint)
        kwargs["endpoint_override"] = split.netloc or endpoint
        kwargs.setdefault("scheme", split.scheme or "https")
    if "region" not in kwargs:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region is None and "endpoint_override" not in kwargs:
            region = pafs.resolve_s3_region(bucket)
        kwargs["region"] = region or "us-east-1"
    for flag in _S3_FLAGS:
        if flag in kwargs:
            kwargs[flag] = str(kwargs[flag]).lower() in ("1", "true", "yes")
    # A small file becomes one PutObject at close instead of a three-request multipart upload; either way
    # the object exists only once the stream is closed.
    kwargs.setdefault("allow_delayed_open", True)
    for number in ("request_timeout", "connect_timeout"):
        if number in kwargs:
            kwargs[number] = float(kwargs[number])  # type: ignore[arg-type]
    return pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]


def _fsspec(url: str) -> tuple[pafs.FileSystem, str]:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with prefect
        raise StorageError(f"{url}: unknown scheme and fsspec is not installed") from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StorageError(f"{url}: {exc}") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


# -- partitions ----------------------------------------------------------------------------------------------------


def partition_name(snapshot_date: date) -> str:
    return f"snapshot_date={snapshot_date.isoformat()}"


def run_file_prefix(run_id: str) -> str:
    """Object-store data files of one run start with this (see the module docstring)."""
    return f"part-{run_id}--"


def _manifests(storage: LakeStorage, partition: str) -> list[str]:
    return [n for n in storage.files(partition) if n.startswith(MANIFEST_PREFIX) and n.endswith(MANIFEST_SUFFIX)]


def _stamp(existing: list[str]) -> str:
    now = datetime.now(UTC)
    if existing:
        newest = datetime.strptime(max(existing)[len(MANIFEST_PREFIX):].split("-", 1)[0], _STAMP)
        now = max(now, newest.replace(tzinfo=UTC) + timedelta(microseconds=1))
    return now.strftime(_STAMP)


def commit_partition(storage: LakeStorage, partition: str, run_id: str) -> int:
    """Object stores: publish ``run_id``'s files in ``partition`` as the partition, then delete the rest.

    Writes the manifest (listing the run's ``part-<run_id>--*.parquet`` files) last; returns how many files
    it lists. A run that wrote nothing publishes an empty manifest: the partition disappears for readers.
    """
    names = storage.files(partition)
    mine = sorted(n for n in names if n.startswith(run_file_prefix(run_id)) and n.endswith(".parquet"))
    existing = [n for n in names if n.startswith(MANIFEST_PREFIX) and n.endswith(MANIFEST_SUFFIX)]
    if not mine and not names:
        return 0  # nothing was ever here: nothing to hide
    stamp = _stamp(existing)
    manifest = f"{MANIFEST_PREFIX}{stamp}-{run_id}{MANIFEST_SUFFIX}"
    body = {"format": 1, "run_id": run_id, "committed_at": datetime.now(UTC).isoformat(), "files": mine}
    storage.write_bytes(posixpath.join(partition, manifest), json.dumps(body, indent=1).encode())
    keep = {manifest, *mine}
    for name in names:  # data first, manifests after: a half-done clean-up leaves the new manifest newest
        if name not in keep and not name.startswith(MANIFEST_PREFIX):
            storage.delete_file(posixpath.join(partition, name))
    for name in existing:
        storage.delete_file(posixpath.join(partition, name))
    if not mine:  # an empty night: once nothing older is left, the partition goes, as it does locally
        storage.delete_dir(partition)
    return len(mine)


def committed_files(storage: LakeStorage, partition: str) -> list[str]:
    """The files readers must take in ``partition`` (full paths in ``storage.fs``).

    Local: every ``*.parquet`` (the folder only exists once swapped in). Object stores: the files listed by
    the newest manifest; none without a manifest.
    """
    if storage.local:
        return [posixpath.join(partition, n) for n in storage.files(partition) if n.endswith(".parquet")]
    manifests = _manifests(storage, partition)
    if not manifests:
        return []
    body = json.loads(storage.read_bytes(posixpath.join(partition, max(manifests))))
    return [posixpath.join(partition, name) for name in body["files"]]


def published_partitions(storage: LakeStorage, dataset_dir: str) -> dict[str, list[str]]:
    """``{"YYYY-MM-DD": [files]}`` for every published, non-empty ``snapshot_date=`` partition of a dataset
    folder (``dataset_dir`` is a path in ``storage.fs``)."""
    found: dict[str, list[str]] = {}
    for name in storage.dirs(dataset_dir):
        if not name.startswith("snapshot_date="):
            continue
        files = committed_files(storage, posixpath.join(dataset_dir, name))
        if files:
            found[name.split("=", 1)[1]] = files
    return dict(sorted(found.items()))


def published_dates(location: str | Path | LakeStorage) -> list[date]:
    """Every snapshot date present in the lake's raw datasets, oldest first (locally any ``snapshot_date=``
    folder; on object storage a published, non-empty partition)."""
    storage = LakeStorage.of(location)
    raw = storage.path("raw")
    days: set[str] = set()
    for dataset in storage.dirs(raw):
        folder = posixpath.join(raw, dataset)
        if storage.local:
            days |= {n.split("=", 1)[1] for n in storage.dirs(folder) if n.startswith("snapshot_date=")}
        else:
            days |= set(published_partitions(storage, folder))
    found = []
    for day in days:
        with contextlib.suppress(ValueError):
            found.append(date.fromisoformat(day))
    return sorted(found)


def drop_partition(storage: LakeStorage, partition: str) -> None:
    """Remove a partition: manifests first, so readers stop seeing it before its data goes."""
    if not storage.local:
        for name in _manifests(storage, partition):
            storage.delete_file(posixpath.join(partition, name))
    storage.delete_dir(partition)


def discard_run_files(storage: LakeStorage, partition: str, run_id: str) -> None:
    """Object stores: delete a run's uncommitted files from a partition (an aborted run)."""
    for name in storage.files(partition):
        if name.startswith(run_file_prefix(run_id)):
            storage.delete_file(posixpath.join(partition, name))


def partitioned_dataset(storage: LakeStorage, files: list[str], base_dir: str, schema=None):
    """A ``pyarrow.dataset`` over ``files`` (paths in ``storage.fs`` below ``base_dir``) with the hive
    partition ``snapshot_date`` as a date column, last. Without ``schema``, every file's schema is read
    and unified by name, as DuckDB's ``union_by_name`` does for a local lake."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    partitioning = ds.partitioning(pa.schema([("snapshot_date", pa.date32())]), flavor="hive")
    if schema is not None:
        return ds.dataset(files, schema=schema, format="parquet", filesystem=storage.fs,
                          partitioning=partitioning, partition_base_dir=base_dir)
    options = ds.FileSystemFactoryOptions(partition_base_dir=base_dir, partitioning=partitioning)
    factory = ds.FileSystemDatasetFactory(storage.fs, files, ds.ParquetFileFormat(), options)
    return factory.finish(factory.inspect(promote_options="permissive"))
