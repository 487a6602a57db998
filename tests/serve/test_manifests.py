"""Rendered ServingRuntime and InferenceService, checked against KServe's schema (our JSON schema, and
KServe's published CRDs on the real API server); deploy --dry-run."""

import copy
import json
from dataclasses import replace
from pathlib import Path

import kserve
import pytest
import yaml
from kube_server import create, dropped_fields

from p2m_lib.errors import P2MError
from p2m_lib.serve import ServiceSpec, deploy_model, render_manifests
from p2m_lib.serve.manifests import serving_image

jsonschema = pytest.importorskip("jsonschema", reason="the schema check needs jsonschema (a dev dependency)")

SCHEMA = json.loads((Path(__file__).parent / "kserve_schema.json").read_text())
SPEC = ServiceSpec(
    name="dates", namespace="team-a", storage_uri="s3://models/p2m/dates/0123abcd", image="reg/p2m:1"
)
# Every kind of InferenceService and ServingRuntime p2m renders.
SPECS = {
    "defaults": SPEC,
    "gpu": replace(SPEC, gpus=1),
    "canary": replace(SPEC, canary_traffic_percent=10, deployment_mode="Serverless"),
    "scale to zero": replace(SPEC, deployment_mode="Serverless", min_replicas=0, max_replicas=3),
    "custom resources": replace(
        SPEC, cpu="1500m", memory="3Gi", max_batch_size=4, max_wait_ms=2.5, service_account="team-s3"
    ),
    "gpu canary serverless": replace(
        SPEC, gpus=1, canary_traffic_percent=10, deployment_mode="Serverless", min_replicas=0, max_replicas=3
    ),
    "raw deployment with demo": replace(
        SPEC, deployment_mode="RawDeployment", demo=True, cpu="500m", memory="1Gi"
    ),
}


@pytest.fixture(scope="module")
def validator():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_rendered_manifests_satisfy_the_kserve_schema(validator, spec):
    for manifest in render_manifests(spec):
        errors = [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(manifest)]
        assert errors == []


def test_the_schema_catches_a_misspelt_field_a_bad_uri_and_a_missing_model(validator):
    runtime, service = render_manifests(SPEC)
    predictor = service["spec"]["predictor"]
    broken = [
        {**service, "spec": {"predictor": {**predictor, "minReplica": 1}}},
        {
            **service,
            "spec": {"predictor": {**predictor, "model": {**predictor["model"], "storageUri": "models/x"}}},
        },
        {**service, "spec": {"predictor": {"minReplicas": 1}}},
        {**runtime, "spec": {**runtime["spec"], "containers": [{"name": "other", "image": "x"}]}},
    ]

    assert all(not validator.is_valid(manifest) for manifest in broken)


@pytest.mark.kube
@pytest.mark.parametrize("spec", SPECS.values(), ids=SPECS.keys())
def test_kserves_own_crds_on_the_api_server_accept_every_rendered_manifest_whole(spec, cluster):
    for manifest in render_manifests(replace(spec, namespace=cluster.namespace)):
        stored = create(cluster.server, manifest, cluster.namespace)

        assert dropped_fields(manifest, stored) == [], manifest["kind"]


@pytest.mark.kube
def test_the_api_server_refuses_a_wrong_type_and_prunes_a_misspelt_field(cluster):
    from kubernetes.client.exceptions import ApiException

    _, service = render_manifests(replace(SPEC, namespace=cluster.namespace))
    wrong_type, misspelt = copy.deepcopy(service), copy.deepcopy(service)
    wrong_type["spec"]["predictor"]["minReplicas"] = "x"
    misspelt["spec"]["predictor"]["minReplica"] = 1

    with pytest.raises(ApiException) as refused:
        create(cluster.server, wrong_type, cluster.namespace)
    stored = create(cluster.server, misspelt, cluster.namespace)

    assert refused.value.status == 422 and b"spec.predictor.minReplicas" in refused.value.body
    # Pruned without an error: why the test above compares what the server kept.
    assert dropped_fields(misspelt, stored) == ["spec.predictor.minReplica"]


# The schema's objects and the kserve package's models generated from the same CRDs.
KSERVE_MODELS = {
    "predictorSpec": kserve.V1beta1PredictorSpec,
    "modelSpec": kserve.V1beta1ModelSpec,
    "inferenceService": kserve.V1beta1InferenceService,
    "servingRuntime": kserve.V1alpha1ServingRuntime,
}
OPENAPI_TYPES = {"integer": "int", "string": "str", "boolean": "bool"}


@pytest.mark.parametrize("definition", KSERVE_MODELS)
def test_every_field_of_the_schema_exists_in_kserve_with_the_same_type(definition):
    model = KSERVE_MODELS[definition]
    properties = SCHEMA["$defs"][definition]["properties"]
    attributes = {json_name: python_name for python_name, json_name in model.attribute_map.items()}

    assert set(properties) <= set(attributes)
    for name, field in properties.items():
        if field.get("type") in OPENAPI_TYPES:
            assert model.openapi_types[attributes[name]] == OPENAPI_TYPES[field["type"]], name


def test_the_runtime_runs_our_server_on_the_mounted_model_and_the_service_uses_it():
    runtime, service = render_manifests(replace(SPEC, max_batch_size=4, max_wait_ms=2.5, cpu="1500m"))
    server = runtime["spec"]["containers"][0]
    model = service["spec"]["predictor"]["model"]

    assert server["name"] == "kserve-container" and server["image"] == "reg/p2m:1"
    assert server["command"] + server["args"] == [
        "python", "-m", "p2m_lib.serve", "/mnt/models", "--name={{.Name}}", "--host=0.0.0.0", "--port=8080"
    ]  # fmt: skip
    assert model["runtime"] == runtime["metadata"]["name"] == "dates-runtime"
    assert model["modelFormat"]["name"] == runtime["spec"]["supportedModelFormats"][0]["name"]
    assert model["storageUri"] == "s3://models/p2m/dates/0123abcd"
    assert {env["name"]: env["value"] for env in model["env"]} == {
        "P2M_SERVE_MAX_BATCH_SIZE": "4",
        "P2M_SERVE_MAX_WAIT_MS": "2.5",
        "OMP_NUM_THREADS": "2",
    }
    assert service["spec"]["predictor"]["serviceAccountName"] == "p2m-serving"


def test_optional_settings_appear_only_when_asked_for():
    _, plain = render_manifests(SPEC)
    runtime, tuned = render_manifests(SPECS["gpu canary serverless"])
    demo_runtime, _ = render_manifests(SPECS["raw deployment with demo"])

    assert "annotations" not in plain["metadata"] and "canaryTrafficPercent" not in plain["spec"]["predictor"]
    assert "nvidia.com/gpu" not in plain["spec"]["predictor"]["model"]["resources"]["limits"]
    assert tuned["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "Serverless"}
    assert tuned["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert tuned["spec"]["predictor"]["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert [c["name"] for c in runtime["spec"]["containers"]] == ["kserve-container"]
    sidecar = demo_runtime["spec"]["containers"][1]
    assert sidecar["name"] == "p2m-demo" and "--endpoint=http://127.0.0.1:8080" in sidecar["args"]
    # Knative sends traffic to the one container that declares ports.
    assert [c["name"] for c in demo_runtime["spec"]["containers"] if "ports" in c] == ["kserve-container"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Dates"}, "lowercase"),
        ({"name": "9dates"}, "start with a"),
        ({"name": "d" * 46}, "at most 45"),
        ({"min_replicas": 2, "max_replicas": 1}, "replicas"),
        ({"max_replicas": 0, "min_replicas": 0}, "replicas"),
        ({"canary_traffic_percent": 101}, "0-100"),
        ({"deployment_mode": "Knative"}, "Serverless, RawDeployment"),
        ({"gpus": -1}, "negative"),
        ({"cpu": "0"}, "CPU quantity"),
        ({"cpu": "two"}, "CPU quantity"),
        ({"cpu": "-1"}, "CPU quantity"),
    ],
)
def test_invalid_service_settings_are_refused(changes, message):
    with pytest.raises(P2MError, match=message):
        replace(SPEC, **changes)


def test_the_image_comes_from_the_shared_registry_and_tag_settings(monkeypatch):
    monkeypatch.setenv("P2M_IMAGE_REGISTRY", "registry.example.com/ml/")
    monkeypatch.setenv("P2M_IMAGE_TAG", "1.2.3")

    assert serving_image() == "registry.example.com/ml/p2m-serving:1.2.3"


@pytest.fixture
def no_cluster_no_credentials(monkeypatch, tmp_path):
    """No S3 settings and no kubeconfig anywhere: a dry run must need neither."""
    for name in (
        "AWS_ENDPOINT_URL",
        "S3_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "KUBERNETES_SERVICE_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))


def test_a_dry_run_renders_valid_manifests_without_storage_or_cluster(
    validator, served_model_dir, no_cluster_no_credentials
):
    result = deploy_model(served_model_dir, name="dates", namespace="", bucket="models", dry_run=True)
    again = deploy_model(served_model_dir, name="dates", namespace="", bucket="models", dry_run=True)

    assert (result.action, result.url, result.namespace) == ("dry-run", None, "default")
    prefix, digest = result.storage_uri.rsplit("/", 1)
    assert prefix == "s3://models/p2m/dates" and len(digest) == 16
    assert again.storage_uri == result.storage_uri
    assert all(validator.is_valid(manifest) for manifest in result.manifests)


def test_a_dry_run_never_shows_credentials(served_model_dir, no_cluster_no_credentials, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-VISIBLE-NOWHERE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-visible-nowhere")

    result = deploy_model(served_model_dir, name="dates", namespace="team-a", bucket="models", dry_run=True)

    printed = yaml.safe_dump_all(result.manifests)
    assert "VISIBLE-NOWHERE" not in printed and "visible-nowhere" not in printed


def test_deploy_refuses_a_folder_p2m_did_not_train_and_a_missing_bucket(served_model_dir, tiny_causal_lm_dir):
    with pytest.raises(P2MError, match="p2m_template.json"):
        deploy_model(tiny_causal_lm_dir, name="dates", namespace="ns", bucket="models", dry_run=True)
    with pytest.raises(P2MError, match="--bucket"):
        deploy_model(served_model_dir, name="dates", namespace="ns", bucket="", dry_run=True)
