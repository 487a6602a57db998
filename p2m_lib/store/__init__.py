"""Store: model folders in S3-compatible storage, where KServe's storage initializer reads them."""

from p2m_lib.store.s3 import (
    DEFAULT_PART_SIZE,
    LocalFile,
    S3Settings,
    UploadResult,
    check_bucket,
    folder_digest,
    local_files,
    object_key,
    upload_files,
    upload_folder,
)

__all__ = [
    "DEFAULT_PART_SIZE",
    "LocalFile",
    "S3Settings",
    "UploadResult",
    "check_bucket",
    "folder_digest",
    "local_files",
    "object_key",
    "upload_files",
    "upload_folder",
]
