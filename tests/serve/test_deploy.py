"""`deploy_model` against a real S3-protocol server and a fake Kubernetes API, both on loopback."""

import pytest
from minio import Minio
from serve.fake_kube import FakeKube
from store.s3_server import CREDENTIALS, s3_env, s3_server

from p2m_lib.errors import P2MError
from p2m_lib.serve import deploy_model

RUNTIMES = ("servingruntimes", "team-a", "dates-runtime")
SERVICE = ("inferenceservices", "team-a", "dates")


@pytest.fixture(scope="module")
def s3_url():
    with s3_server() as url:
        yield url


@pytest.fixture
def s3(s3_url, monkeypatch):
    for name, value in s3_env(s3_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return Minio(
        s3_url.removeprefix("http://"),
        CREDENTIALS["AWS_ACCESS_KEY_ID"],
        CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        secure=False,
    )


@pytest.fixture
def kube(tmp_path):
    with FakeKube() as fake:
        fake.kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        yield fake


def _deploy(model_dir, kube, **options):
    settings = {"name": "dates", "namespace": "", "bucket": "models", "timeout_s": 5.0} | options
    return deploy_model(model_dir, kubeconfig=kube.kubeconfig, **settings)


def test_a_first_deploy_uploads_creates_and_returns_the_ready_url(served_model_dir, s3, kube):
    result = _deploy(served_model_dir, kube)

    assert (result.action, result.namespace) == ("created", "team-a")
    assert result.url == "http://dates.team-a.example.com"
    files = sorted(path.name for path in served_model_dir.iterdir())
    prefix = result.storage_uri.removeprefix("s3://models/")
    stored = sorted(
        obj.object_name.rsplit("/", 1)[1] for obj in s3.list_objects("models", prefix + "/", recursive=True)
    )
    assert stored == files and result.uploaded == len(files)
    assert [kube.objects[key]["spec"] for key in (RUNTIMES, SERVICE)] == [m["spec"] for m in result.manifests]
    assert kube.objects[SERVICE]["spec"]["predictor"]["model"]["storageUri"] == result.storage_uri


def test_a_rerun_uploads_nothing_and_patches_and_a_canary_is_set_then_ended(served_model_dir, s3, kube):
    _deploy(served_model_dir, kube)

    rerun = _deploy(served_model_dir, kube)
    canary = _deploy(served_model_dir, kube, canary_traffic_percent=20)
    promoted = _deploy(served_model_dir, kube)

    assert (rerun.action, rerun.uploaded) == ("patched", 0)
    assert rerun.url == "http://dates.team-a.example.com"
    assert canary.manifests[1]["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert promoted.action == "patched"
    assert "canaryTrafficPercent" not in kube.objects[SERVICE]["spec"]["predictor"]
    assert kube.objects[SERVICE]["metadata"]["generation"] == 4
    assert [method for method, path in kube.calls if path.endswith("/inferenceservices")] == ["POST"]


def test_without_permission_the_error_names_the_object_and_the_missing_rights(served_model_dir, s3, kube):
    kube.forbidden = True

    with pytest.raises(
        P2MError, match=r"permission denied for ServingRuntime team-a/dates-runtime .*servingruntimes"
    ):
        _deploy(served_model_dir, kube)


def test_a_cluster_without_kserve_is_named_as_such(served_model_dir, s3, kube):
    kube.kserve_installed = False

    with pytest.raises(P2MError, match="is KServe installed"):
        _deploy(served_model_dir, kube)


def test_a_service_that_never_gets_ready_times_out_with_a_clear_error(served_model_dir, s3, kube):
    kube.ready_after_reads = None

    with pytest.raises(
        P2MError, match=r"InferenceService team-a/dates not Ready after 0.5 s \(no status yet\)"
    ):
        _deploy(served_model_dir, kube, timeout_s=0.5)


def test_a_missing_kubeconfig_is_a_clear_error_before_any_upload(served_model_dir, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("HOME", str(tmp_path))

    with pytest.raises(P2MError, match="does not exist"):
        deploy_model(
            served_model_dir, name="dates", namespace="ns", bucket="never", kubeconfig=tmp_path / "none"
        )
    with pytest.raises(P2MError, match="no usable Kubernetes configuration.*--dry-run"):
        deploy_model(served_model_dir, name="dates", namespace="ns", bucket="never")
    assert not s3.bucket_exists("never")


def test_missing_s3_credentials_stop_the_deploy_before_the_cluster_is_touched(
    served_model_dir, s3, kube, monkeypatch
):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(P2MError, match="AWS_SECRET_ACCESS_KEY"):
        _deploy(served_model_dir, kube)
    assert kube.calls == []


def test_an_unreachable_api_server_is_a_clear_error(served_model_dir, s3, tmp_path):
    with FakeKube() as stopped:
        kubeconfig = stopped.write_kubeconfig(tmp_path / "kubeconfig")
    # The server is shut down now: its port refuses connections.

    with pytest.raises(P2MError, match="cannot reach the Kubernetes API at http://127.0.0.1"):
        deploy_model(served_model_dir, name="dates", namespace="ns", bucket="models", kubeconfig=kubeconfig)
