"""Upload a model folder to S3-compatible storage (MinIO on most clusters) with the `minio` client.

Settings come from the environment, under the names the pipeline's `p2m-s3` secret maps and
the AWS tools read (KServe's own `S3_ENDPOINT` / `S3_USE_HTTPS` are accepted too):

    AWS_ENDPOINT_URL        http://minio.kubeflow:9000 (scheme optional; https by default)
    S3_ENDPOINT             alternative to AWS_ENDPOINT_URL: host:port, with S3_USE_HTTPS=0/1
    AWS_ACCESS_KEY_ID       access key
    AWS_SECRET_ACCESS_KEY   secret key
    AWS_REGION              optional (AWS_DEFAULT_REGION also read)

Credentials are never logged, printed or put in an error message.

Uploads are idempotent: an object whose size and recorded SHA-256 already match the local file
is left alone. Every object uploaded, and every object skipped, is verified against the local
file's checksum: its ETag must equal the MD5 the server computed on the bytes it received (for a
multipart upload, the MD5 of the parts' MD5s and the part count, with the part size used here).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from p2m_lib.errors import P2MError

if TYPE_CHECKING:
    from minio import Minio

# Files up to this size go up in one request; larger ones in parts of this size.
DEFAULT_PART_SIZE = 64 * 1024 * 1024
# The local file's SHA-256, stored as user metadata (x-amz-meta-p2m-sha256) on every object.
SHA256_METADATA = "p2m-sha256"
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class S3Settings:
    """Where the storage is and how to sign in.

    Attributes:
        endpoint: host[:port], without scheme.
        secure: Whether to use HTTPS.
        access_key: The access key id.
        secret_key: The secret key (left out of the repr).
        region: The region, or None to let the client discover it.
    """

    endpoint: str
    secure: bool
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Settings:
        """Read the settings from the environment (see the module docstring for the names).

        Raises:
            P2MError: If the endpoint or a credential is missing (naming the variable only).
        """
        env = os.environ if environ is None else environ
        endpoint, secure = _endpoint(env)
        missing = [name for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not env.get(name)]
        if missing:
            raise P2MError(f"S3 credentials missing: set {' and '.join(missing)}")
        return cls(
            endpoint=endpoint,
            secure=secure,
            access_key=env["AWS_ACCESS_KEY_ID"],
            secret_key=env["AWS_SECRET_ACCESS_KEY"],
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        )

    @property
    def url(self) -> str:
        """The endpoint as a URL (no credentials in it)."""
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    def client(self) -> Minio:
        """A minio client for these settings."""
        from minio import Minio

        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.secure,
            region=self.region,
        )


@dataclass(frozen=True)
class UploadResult:
    """What an upload did.

    Attributes:
        uri: The folder's location, `s3://bucket/prefix`.
        uploaded: Keys written by this call.
        skipped: Keys that already held the same bytes.
        bytes_uploaded: Bytes sent.
    """

    uri: str
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_uploaded: int


@dataclass(frozen=True)
class LocalFile:
    """A file to upload with its checksums.

    Attributes:
        path: The file.
        relative: Its path relative to the uploaded folder, with "/" separators.
        size: Its size in bytes.
        sha256: The SHA-256 of its bytes (hex).
        etag: The ETag S3 computes for it when uploaded with the part size used here.
    """

    path: Path
    relative: str
    size: int
    sha256: str
    etag: str


def check_bucket(bucket: str) -> str:
    """Return `bucket` if it is a valid S3 bucket name.

    Raises:
        P2MError: If it is not (3-63 lowercase letters, digits, "." and "-", not an IP address, ...).
    """
    from minio.helpers import check_bucket_name

    try:
        check_bucket_name(bucket, strict=True)
    except ValueError as error:
        raise P2MError(f"S3 bucket: {error}") from None
    return bucket


def upload_folder(
    folder: Path, bucket: str, prefix: str, settings: S3Settings, part_size: int = DEFAULT_PART_SIZE
) -> UploadResult:
    """Upload every file under `folder` to `s3://bucket/prefix/<relative path>`; see the module docstring.

    Raises:
        P2MError: As `local_files` and `upload_files` do.
    """
    return upload_files(local_files(Path(folder), part_size), bucket, prefix, settings, part_size)


def upload_files(
    files: list[LocalFile], bucket: str, prefix: str, settings: S3Settings, part_size: int = DEFAULT_PART_SIZE
) -> UploadResult:
    """Upload files listed by `local_files` (with the same `part_size`) under `prefix`.

    The bucket is created when it does not exist; objects that already hold a file's bytes are
    skipped.

    Raises:
        P2MError: If the storage refuses or cannot be reached, or an object's checksum does not
            match its file after the upload.
    """
    from minio.error import MinioException, S3Error
    from urllib3.exceptions import HTTPError

    client = settings.client()
    uploaded: list[LocalFile] = []
    skipped: list[LocalFile] = []
    try:
        _ensure_bucket(client, bucket)
        for file in files:
            key = object_key(prefix, file)
            if _matches(_stat(client, bucket, key), file):
                skipped.append(file)
                continue
            client.fput_object(
                bucket, key, str(file.path), metadata={SHA256_METADATA: file.sha256}, part_size=part_size
            )
            if not _matches(_stat(client, bucket, key), file):
                raise P2MError(
                    f"checksum mismatch for s3://{bucket}/{key} after upload: the stored object differs "
                    f"from {file.path}; rerun the upload"
                )
            uploaded.append(file)
    except S3Error as error:
        raise P2MError(
            f"S3 at {settings.url} answered {error.code} for bucket {bucket}: {error.message}"
        ) from None
    except MinioException as error:
        raise P2MError(f"S3 at {settings.url} failed for bucket {bucket}: {error}") from None
    except HTTPError as error:  # connection refused, DNS, TLS, after the client's own retries
        raise P2MError(f"cannot reach S3 at {settings.url}: {error}") from None
    except ValueError as error:  # the client refuses to send it: e.g. an invalid bucket name
        raise P2MError(f"invalid S3 request: {error}") from None
    return UploadResult(
        uri=f"s3://{bucket}/{prefix.strip('/')}",
        uploaded=tuple(object_key(prefix, file) for file in uploaded),
        skipped=tuple(object_key(prefix, file) for file in skipped),
        bytes_uploaded=sum(file.size for file in uploaded),
    )


def local_files(
    folder: Path, part_size: int = DEFAULT_PART_SIZE, replaced: Mapping[str, Path] | None = None
) -> list[LocalFile]:
    """Every regular file under `folder`, sorted by relative path, with its checksums.

    Args:
        folder: The folder to upload.
        part_size: The multipart upload's part size (the ETags depend on it).
        replaced: Files to upload in place of (or beside) the folder's own, by relative path: the
            folder itself is never changed (a deploy adds lineage to a copy of the model card).

    Raises:
        P2MError: If `folder` is not a folder or holds no file.
    """
    if not folder.is_dir():
        raise P2MError(f"{folder} is not a folder")
    paths = {path.relative_to(folder).as_posix(): path for path in folder.rglob("*") if path.is_file()}
    if not paths:
        raise P2MError(f"{folder} holds no file to upload")
    paths |= dict(replaced or {})
    return [_local_file(paths[relative], relative, part_size) for relative in sorted(paths)]


def object_key(prefix: str, file: LocalFile) -> str:
    """The object key of `file` under `prefix`."""
    return "/".join(part for part in (prefix.strip("/"), file.relative) if part)


def folder_digest(files: list[LocalFile]) -> str:
    """A SHA-256 over the files' relative paths and contents: equal folders, equal digests."""
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: f.relative):
        digest.update(f"{file.relative}\0{file.sha256}\n".encode())
    return digest.hexdigest()


def _local_file(path: Path, relative: str, part_size: int) -> LocalFile:
    sha256 = hashlib.sha256()
    part_md5s: list[bytes] = []
    size = 0
    with path.open("rb") as stream:
        while part := _read_part(stream, part_size):
            sha256.update(part)
            part_md5s.append(hashlib.md5(part).digest())
            size += len(part)
    return LocalFile(path, relative, size, sha256.hexdigest(), _expected_etag(part_md5s))


def _read_part(stream: Any, part_size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = part_size
    while remaining and (chunk := stream.read(min(_READ_CHUNK, remaining))):
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _expected_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives an object uploaded as these parts (one part: a plain PUT)."""
    if len(part_md5s) <= 1:
        # An empty file has no part; its ETag is the MD5 of nothing.
        return (part_md5s[0] if part_md5s else hashlib.md5(b"").digest()).hex()
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def _ensure_bucket(client: Minio, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)


def _stat(client: Minio, bucket: str, key: str) -> Any:
    """The object's metadata, or None when there is no such object."""
    from minio.error import S3Error

    try:
        return client.stat_object(bucket, key)
    except S3Error as error:
        if error.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
            return None
        raise


def _matches(remote: Any, file: LocalFile) -> bool:
    if remote is None:
        return False
    sha256 = (remote.metadata or {}).get(f"x-amz-meta-{SHA256_METADATA}")
    etag = (remote.etag or "").strip('"')
    return remote.size == file.size and sha256 == file.sha256 and etag == file.etag


def _endpoint(env: Mapping[str, str]) -> tuple[str, bool]:
    """(host[:port], secure) from AWS_ENDPOINT_URL, else S3_ENDPOINT and S3_USE_HTTPS."""
    url = env.get("AWS_ENDPOINT_URL") or env.get("S3_ENDPOINT")
    if not url:
        raise P2MError("no S3 endpoint: set AWS_ENDPOINT_URL (e.g. http://minio.kubeflow:9000)")
    if "://" in url:
        parts = urlsplit(url)
        if "@" in parts.netloc:  # not echoed: it would print the credentials it holds
            raise P2MError(
                "the S3 endpoint URL holds credentials: use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise P2MError(f"S3 endpoint {url!r} must look like http(s)://host[:port], with no path")
        return parts.netloc, parts.scheme == "https"
    return url.strip("/"), env.get("S3_USE_HTTPS", "1").strip().lower() not in ("0", "false", "no")
