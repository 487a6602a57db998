"""Uploading a folder to a real S3-protocol server (moto) on loopback: checksums, reruns, settings."""

import hashlib
import io

import pytest
from minio import Minio
from store.s3_server import CREDENTIALS, s3_env, s3_server

from p2m_lib.errors import P2MError
from p2m_lib.store import S3Settings, folder_digest, local_files, upload_folder
from p2m_lib.store.s3 import SHA256_METADATA

MIB = 1024 * 1024


@pytest.fixture
def folder(tmp_path):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"a": 1}')
    (model / "sub" / "tokenizer.json").write_text("{}")
    (model / "empty.txt").write_bytes(b"")
    return model


@pytest.fixture
def settings(s3_url):
    return S3Settings.from_env(s3_env(s3_url))


def _client(settings):
    return Minio(
        settings.endpoint,
        CREDENTIALS["AWS_ACCESS_KEY_ID"],
        CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        secure=False,
    )


def _object_bytes(settings, bucket, key):
    response = _client(settings).get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def test_upload_writes_every_file_under_the_prefix_with_its_checksum(folder, settings):
    result = upload_folder(folder, "models", "runs/one/", settings)

    assert result.uri == "s3://models/runs/one"
    assert result.uploaded == ("runs/one/config.json", "runs/one/empty.txt", "runs/one/sub/tokenizer.json")
    assert result.skipped == ()
    assert result.bytes_uploaded == len('{"a": 1}') + 2
    assert _object_bytes(settings, "models", "runs/one/config.json") == b'{"a": 1}'
    stat = _client(settings).stat_object("models", "runs/one/config.json")
    assert stat.metadata[f"x-amz-meta-{SHA256_METADATA}"] == hashlib.sha256(b'{"a": 1}').hexdigest()


def test_a_rerun_uploads_nothing_and_a_changed_file_goes_up_again(folder, settings):
    upload_folder(folder, "rerun", "m", settings)

    again = upload_folder(folder, "rerun", "m", settings)
    (folder / "config.json").write_text('{"a": 2}')
    changed = upload_folder(folder, "rerun", "m", settings)

    assert again.uploaded == () and len(again.skipped) == 3 and again.bytes_uploaded == 0
    assert changed.uploaded == ("m/config.json",)
    assert _object_bytes(settings, "rerun", "m/config.json") == b'{"a": 2}'


def test_an_object_altered_behind_our_back_is_replaced(folder, settings):
    upload_folder(folder, "tampered", "m", settings)
    # Same key and size, other bytes, no p2m checksum: what a partial or foreign write leaves.
    _client(settings).put_object("tampered", "m/config.json", io.BytesIO(b'{"a": 9}'), 8)

    result = upload_folder(folder, "tampered", "m", settings)

    assert result.uploaded == ("m/config.json",)
    assert _object_bytes(settings, "tampered", "m/config.json") == b'{"a": 1}'


def test_a_multipart_upload_is_verified_against_the_parts_checksums(tmp_path, settings):
    folder = tmp_path / "big"
    folder.mkdir()
    data = bytes(range(256)) * (6 * MIB // 256 + 1)
    (folder / "weights.bin").write_bytes(data)

    first = upload_folder(folder, "big", "m", settings, part_size=5 * MIB)
    again = upload_folder(folder, "big", "m", settings, part_size=5 * MIB)

    assert first.uploaded == ("m/weights.bin",) and again.skipped == ("m/weights.bin",)
    stat = _client(settings).stat_object("big", "m/weights.bin")
    assert stat.etag.strip('"').endswith("-2")
    assert (
        hashlib.sha256(_object_bytes(settings, "big", "m/weights.bin")).digest()
        == hashlib.sha256(data).digest()
    )


def test_folder_digest_follows_contents_and_names_only(folder, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in local_files(folder):
        (copy / file.relative).parent.mkdir(parents=True, exist_ok=True)
        (copy / file.relative).write_bytes(file.path.read_bytes())

    assert folder_digest(local_files(copy)) == folder_digest(local_files(folder))
    (copy / "config.json").write_text("changed")
    assert folder_digest(local_files(copy)) != folder_digest(local_files(folder))


def test_settings_read_the_documented_variables():
    aws = S3Settings.from_env(
        {"AWS_ENDPOINT_URL": "http://minio.kubeflow:9000", "AWS_REGION": "eu", **CREDENTIALS}
    )
    kserve_style = S3Settings.from_env({"S3_ENDPOINT": "minio:9000", "S3_USE_HTTPS": "0", **CREDENTIALS})
    https = S3Settings.from_env({"S3_ENDPOINT": "s3.example.com", **CREDENTIALS})

    assert (aws.endpoint, aws.secure, aws.region) == ("minio.kubeflow:9000", False, "eu")
    assert (kserve_style.endpoint, kserve_style.secure) == ("minio:9000", False)
    assert https.url == "https://s3.example.com"


def test_credentials_never_show_in_reprs_or_errors():
    settings = S3Settings.from_env(s3_env("http://127.0.0.1:9"))
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in repr(settings)
    assert CREDENTIALS["AWS_ACCESS_KEY_ID"] not in repr(settings)

    with pytest.raises(P2MError) as error:
        S3Settings.from_env({"AWS_ENDPOINT_URL": "http://key:hunter2@minio:9000", **CREDENTIALS})
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "AWS_ENDPOINT_URL"),
        ({"AWS_ENDPOINT_URL": "http://minio:9000"}, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ({"AWS_ENDPOINT_URL": "ftp://minio:9000", **CREDENTIALS}, "http"),
    ],
)
def test_missing_or_bad_settings_are_clear_errors(env, message):
    with pytest.raises(P2MError, match=message):
        S3Settings.from_env(env)


def test_an_empty_or_missing_folder_is_refused(tmp_path, settings):
    with pytest.raises(P2MError, match="holds no file"):
        upload_folder(tmp_path, "models", "m", settings)
    with pytest.raises(P2MError, match="is not a folder"):
        upload_folder(tmp_path / "missing", "models", "m", settings)


def test_a_request_the_client_or_the_server_refuses_is_a_one_line_error(folder, settings):
    with pytest.raises(P2MError, match="invalid bucket name"):
        upload_folder(folder, "Not_A_Valid_Bucket", "m", settings)
    with s3_server(check_credentials=True) as strict_url, pytest.raises(P2MError) as error:
        upload_folder(folder, "models", "m", S3Settings.from_env(s3_env(strict_url)))
    assert "answered InvalidAccessKeyId" in str(error.value)
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in str(error.value)
