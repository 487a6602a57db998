"""What the cluster answers, as the user reads it: RBAC with the role of manifests/rbac.yaml, refusals
(403, 401), a cluster without KServe (404), a missing namespace, on the real API server; and the
answers it cannot give (an unreachable API, a proxy's error page) from tests/serve/fake_kube.py."""

import socket
from pathlib import Path

import pytest
import yaml
from kube_server import create, service_account_token
from serve.fake_kube import FakeKube, write_kubeconfig
from serve.kserve_controller import kserve_controller

from p2m_lib import kube
from p2m_lib.errors import P2MError
from p2m_lib.serve import deploy_model

RBAC = Path(__file__).resolve().parents[2] / "manifests" / "rbac.yaml"
# The account manifests/rbac.yaml binds that runs pipeline pods with standalone KFP.
PIPELINE_ACCOUNT = "pipeline-runner"
TIMEOUT_S = 30.0


def _deploy(model_dir, kubeconfig, namespace="", **options):
    settings = {"name": "dates", "namespace": namespace, "bucket": "models", "timeout_s": TIMEOUT_S} | options
    return deploy_model(model_dir, kubeconfig=kubeconfig, **settings)


def _pipeline_account(cluster, tmp_path, without_verb=None):
    """Apply manifests/rbac.yaml (less one verb on the KServe objects) to the namespace; a kubeconfig
    with the pipeline account's token."""
    for document in yaml.safe_load_all(RBAC.read_text()):
        if document["kind"] == "Role" and document["metadata"]["name"] == "p2m-deployer" and without_verb:
            (rule,) = [rule for rule in document["rules"] if "servingruntimes" in rule["resources"]]
            rule["verbs"].remove(without_verb)
        create(cluster.server, document, cluster.namespace)
    token = service_account_token(cluster.server, cluster.namespace, PIPELINE_ACCOUNT)
    return cluster.server.write_kubeconfig(tmp_path / "pipeline-kubeconfig", cluster.namespace, token)


@pytest.mark.kube
def test_the_pipeline_account_with_the_role_of_manifests_rbac_yaml_deploys_and_rolls_out_a_canary(
    served_model_dir, retrained_model_dir, s3, cluster, tmp_path
):
    kubeconfig = _pipeline_account(cluster, tmp_path)

    with kserve_controller(cluster.server, cluster.namespace):
        first = _deploy(served_model_dir, kubeconfig)
        canary = _deploy(retrained_model_dir, kubeconfig, canary_traffic_percent=20)

    assert (first.action, canary.action) == ("created", "patched")
    assert canary.url == f"http://dates.{cluster.namespace}.example.com"
    assert cluster.get("inferenceservices", "dates")["spec"]["predictor"]["canaryTrafficPercent"] == 20


@pytest.mark.kube
@pytest.mark.parametrize("verb", ["get", "create", "patch"])
def test_a_role_without_a_verb_gets_a_one_line_error_naming_the_verb_and_resource(
    verb, served_model_dir, s3, cluster, tmp_path
):
    if verb == "patch":  # patch is asked only of objects that exist
        with kserve_controller(cluster.server, cluster.namespace):
            _deploy(served_model_dir, cluster.kubeconfig)
    kubeconfig = _pipeline_account(cluster, tmp_path, without_verb=verb)

    with pytest.raises(P2MError) as raised:
        _deploy(served_model_dir, kubeconfig)

    message = str(raised.value)
    resource = "servingruntimes.serving.kserve.io"
    assert message.startswith(
        f"permission denied: cannot {verb} {resource} in namespace {cluster.namespace} ("
    )
    account = f"system:serviceaccount:{cluster.namespace}:{PIPELINE_ACCOUNT}"
    assert f'User "{account}" cannot {verb} resource "servingruntimes"' in message
    assert message.endswith(
        "the account needs get, create and patch on servingruntimes.serving.kserve.io there "
        "(manifests/rbac.yaml grants them)"
    )
    assert "\n" not in message


@pytest.mark.kube
def test_a_token_the_server_does_not_know_is_named_as_such(served_model_dir, s3, cluster, tmp_path):
    kubeconfig = cluster.server.write_kubeconfig(
        tmp_path / "stranger", cluster.namespace, token="not-a-token"
    )

    with pytest.raises(P2MError) as raised:
        _deploy(served_model_dir, kubeconfig)

    assert str(raised.value) == (
        f"the Kubernetes API at {cluster.server.url} did not accept the credentials (Unauthorized): "
        "check the kubeconfig's user or token"
    )


@pytest.mark.kube
def test_a_cluster_without_kserve_is_named_as_such(served_model_dir, s3, kube_api_without_kserve, tmp_path):
    kubeconfig = kube_api_without_kserve.write_kubeconfig(tmp_path / "kubeconfig", "default")

    with pytest.raises(P2MError) as raised:
        _deploy(served_model_dir, kubeconfig)

    assert str(raised.value) == (
        "KServe is not installed in this cluster: the API server does not serve "
        "servingruntimes.serving.kserve.io/v1alpha1 (kubectl get crd servingruntimes.serving.kserve.io)"
    )


@pytest.mark.kube
def test_a_namespace_that_does_not_exist_is_named(served_model_dir, s3, cluster):
    with pytest.raises(P2MError) as raised:
        _deploy(served_model_dir, cluster.kubeconfig, namespace="no-such-team")

    assert str(raised.value) == "namespace no-such-team does not exist: create it or pass another --namespace"


def test_an_unreachable_api_server_is_a_clear_error(served_model_dir, s3, tmp_path):
    with FakeKube(200, b"") as stopped:
        kubeconfig = stopped.write_kubeconfig(tmp_path / "kubeconfig")
    # The server is shut down now: its port refuses connections.

    with pytest.raises(P2MError, match="^cannot reach the Kubernetes API at http://127.0.0.1:[0-9]+: "):
        _deploy(served_model_dir, kubeconfig, namespace="ns")


def test_an_api_server_that_takes_the_connection_and_never_answers_is_an_error_not_a_hang(
    served_model_dir, s3, tmp_path, monkeypatch
):
    monkeypatch.setattr(kube, "REQUEST_TIMEOUT_S", 0.2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes connections; nobody ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"

        with pytest.raises(P2MError) as raised:
            _deploy(served_model_dir, write_kubeconfig(tmp_path / "kubeconfig", url), namespace="ns")

    assert str(raised.value) == (
        f"the Kubernetes API at {url} took the connection but did not answer within 0.2 s"
    )


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (502, "the Kubernetes API refused ServingRuntime team-a/dates-runtime (502): Bad Gateway"),
        (
            403,
            "permission denied: cannot get servingruntimes.serving.kserve.io in namespace team-a "
            "(Forbidden); the account needs get, create and patch on servingruntimes.serving.kserve.io there "
            "(manifests/rbac.yaml grants them)",
        ),
    ],
)
def test_a_proxys_error_page_is_one_line_with_its_status(served_model_dir, s3, tmp_path, status, message):
    page = b"<html><body><h1>error</h1>\n<p>upstream said no</p></body></html>"
    with FakeKube(status, page) as proxy, pytest.raises(P2MError) as raised:
        _deploy(served_model_dir, proxy.write_kubeconfig(tmp_path / "kubeconfig"))

    assert str(raised.value) == message
