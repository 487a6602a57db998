"""`p2m deploy` against moto's S3 server and a real Kubernetes API server with KServe's CRDs.

The test plays KServe's controller (tests/serve/kserve_controller.py): nothing else ever marks an
InferenceService Ready there.
"""

import pytest
from serve.kserve_controller import kserve_controller
from typer.testing import CliRunner

from p2m_lib.cli.serving import single_command_app
from p2m_lib.errors import P2MError
from p2m_lib.serve import deploy_model
from p2m_lib.serve.deploy import DEFAULT_CANARY_PERCENT

# Long enough for a loaded machine; the controller answers within a second of each change.
TIMEOUT_S = 30.0


def _deploy(model_dir, cluster, **options):
    settings = {"name": "dates", "namespace": "", "bucket": "models", "timeout_s": TIMEOUT_S} | options
    return deploy_model(model_dir, kubeconfig=cluster.kubeconfig, **settings)


def _stored_files(s3, storage_uri):
    prefix = storage_uri.removeprefix("s3://models/") + "/"
    return sorted(
        obj.object_name.removeprefix(prefix) for obj in s3.list_objects("models", prefix, recursive=True)
    )


@pytest.mark.kube
def test_p2m_deploy_uploads_creates_both_objects_and_prints_the_ready_url(served_model_dir, s3, cluster):
    arguments = [str(served_model_dir), "--name", "dates", "--bucket", "models"]
    # The command's default canary share is in the spec; it only matters once the service exists.
    expected = deploy_model(
        served_model_dir,
        name="dates",
        namespace=cluster.namespace,
        bucket="models",
        canary_traffic_percent=DEFAULT_CANARY_PERCENT,
        dry_run=True,
    )

    with kserve_controller(cluster.server, cluster.namespace):
        result = CliRunner().invoke(
            single_command_app("deploy"),
            [*arguments, "--kubeconfig", str(cluster.kubeconfig), "--timeout", str(TIMEOUT_S)],
        )

    assert result.exit_code == 0, result.output
    # The progress line goes to the terminal (stderr); stdout is the URL alone, for scripts.
    assert result.stdout == f"http://dates.{cluster.namespace}.example.com\n"
    assert _stored_files(s3, expected.storage_uri) == sorted(p.name for p in served_model_dir.iterdir())
    runtime, service = (
        cluster.get("servingruntimes", "dates-runtime"),
        cluster.get("inferenceservices", "dates"),
    )
    # KServe's schema kept every field p2m wrote: a field it did not know would have been pruned.
    assert [runtime["spec"], service["spec"]] == [manifest["spec"] for manifest in expected.manifests]
    assert service["metadata"]["generation"] == 1 and service["status"]["observedGeneration"] == 1


@pytest.mark.kube
def test_a_rerun_uploads_nothing_and_changes_nothing_on_the_server(served_model_dir, s3, cluster):
    with kserve_controller(cluster.server, cluster.namespace):
        first = _deploy(served_model_dir, cluster)
        rerun = _deploy(served_model_dir, cluster)

    assert (first.action, rerun.action, rerun.uploaded) == ("created", "patched", 0)
    assert rerun.url == first.url == f"http://dates.{cluster.namespace}.example.com"
    # The same spec is no change: the server keeps the generation, whose Ready status still holds.
    assert cluster.get("inferenceservices", "dates")["metadata"]["generation"] == 1


@pytest.mark.kube
def test_a_retrained_model_goes_out_as_a_canary_then_takes_all_traffic(
    served_model_dir, retrained_model_dir, s3, cluster
):
    with kserve_controller(cluster.server, cluster.namespace):
        first = _deploy(served_model_dir, cluster)
        canary = _deploy(retrained_model_dir, cluster, canary_traffic_percent=20)
        during = cluster.get("inferenceservices", "dates")
        promoted = _deploy(retrained_model_dir, cluster)
    after = cluster.get("inferenceservices", "dates")

    assert (canary.action, canary.uploaded) == ("patched", len(list(retrained_model_dir.iterdir())))
    assert canary.storage_uri != first.storage_uri
    assert during["metadata"]["generation"] == 2
    assert during["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert during["spec"]["predictor"]["model"]["storageUri"] == canary.storage_uri
    assert [
        (t["revisionName"], t["percent"]) for t in during["status"]["components"]["predictor"]["traffic"]
    ] == [
        ("dates-predictor-00002", 20),
        ("dates-predictor-00001", 80),
    ]
    # The previous revision still serves its own files during the canary.
    assert _stored_files(s3, first.storage_uri) == _stored_files(s3, canary.storage_uri)
    assert promoted.action == "patched" and after["metadata"]["generation"] == 3
    assert "canaryTrafficPercent" not in after["spec"]["predictor"]
    assert after["spec"]["predictor"]["model"]["storageUri"] == canary.storage_uri


@pytest.mark.kube
def test_a_ready_status_of_an_older_generation_is_not_taken_for_ready(
    served_model_dir, retrained_model_dir, s3, cluster
):
    with kserve_controller(cluster.server, cluster.namespace):
        _deploy(served_model_dir, cluster)
    # The controller is gone: the Ready condition on the server is generation 1's.

    with pytest.raises(P2MError) as raised:
        _deploy(retrained_model_dir, cluster, timeout_s=1.0)

    assert str(raised.value) == (
        f"InferenceService {cluster.namespace}/dates not Ready after 1 s (its status is for generation 1, "
        "older than the service's generation 2: KServe has not reconciled the change yet); "
        f"see kubectl describe inferenceservice dates -n {cluster.namespace}"
    )


@pytest.mark.kube
def test_a_service_with_no_status_times_out_with_a_clear_error(served_model_dir, s3, cluster):
    with pytest.raises(P2MError) as raised:
        _deploy(served_model_dir, cluster, timeout_s=1.0)

    assert str(raised.value) == (
        f"InferenceService {cluster.namespace}/dates not Ready after 1 s (no status yet); "
        f"see kubectl describe inferenceservice dates -n {cluster.namespace}"
    )


@pytest.mark.kube
def test_a_failing_revision_times_out_with_the_controllers_reason(served_model_dir, s3, cluster):
    def failing(service):
        reason = {"reason": "RevisionMissing", "message": "image pull back-off"}
        condition = {
            "type": "Ready",
            "status": "False",
            "lastTransitionTime": "2026-11-30T00:00:00Z",
        } | reason
        return {"observedGeneration": service["metadata"]["generation"], "conditions": [condition]}

    with (
        kserve_controller(cluster.server, cluster.namespace, status=failing),
        pytest.raises(P2MError) as raised,
    ):
        _deploy(served_model_dir, cluster, timeout_s=2.0)

    assert "not Ready after 2 s (Ready: RevisionMissing image pull back-off)" in str(raised.value)


@pytest.mark.kube
def test_missing_s3_credentials_stop_the_deploy_before_the_cluster_is_touched(
    served_model_dir, s3, cluster, monkeypatch
):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(P2MError, match="AWS_SECRET_ACCESS_KEY"):
        _deploy(served_model_dir, cluster)
    assert cluster.names("servingruntimes") == cluster.names("inferenceservices") == []


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
