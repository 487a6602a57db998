"""manifests/: what a namespace needs before the first run, consistent with what the pipeline expects."""

from pathlib import Path

import pytest
import yaml
from kube_server import create, dropped_fields

from pipelines.kubernetes import S3_SECRET, S3_SECRET_KEYS, TEACHER_SECRET, TEACHER_SECRET_KEYS

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def documents(name):
    return [doc for doc in yaml.safe_load_all((MANIFESTS / name).read_text()) if doc]


def assembled():
    """(file, object) for every object under manifests/, as `kubectl apply -k` and `-f` would see them:
    each kustomization's resources, then every other YAML file."""
    objects, listed = [], set()
    for kustomization_file in sorted(MANIFESTS.rglob("kustomization.yaml")):
        (kustomization,) = documents(kustomization_file.relative_to(MANIFESTS))
        # A transformer this assembly does not apply would leave what the cluster gets untested.
        assert set(kustomization) <= {"apiVersion", "kind", "resources"}, kustomization_file
        for resource in kustomization["resources"]:
            path = kustomization_file.parent / resource
            listed.add(path)
            objects += [(path, document) for document in documents(path.relative_to(MANIFESTS))]
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        if path.name != "kustomization.yaml" and path not in listed:
            objects += [(path, document) for document in documents(path.relative_to(MANIFESTS))]
    return objects


@pytest.mark.kube
def test_every_object_under_manifests_is_created_whole_on_the_api_server(kube_api, kube_namespace):
    objects = assembled()
    yaml_files = {path for path in MANIFESTS.rglob("*.yaml") if path.name != "kustomization.yaml"}
    assert {path for path, _ in objects} == yaml_files  # none is left out

    for path, manifest in objects:
        stored = create(kube_api, manifest, kube_namespace)

        assert dropped_fields(manifest, stored) == [], f"{path.name}: {manifest['kind']}"


def test_kustomization_lists_files_that_exist():
    (kustomization,) = documents("kustomization.yaml")
    for resource in kustomization["resources"]:
        assert documents(resource), resource


def test_secret_templates_hold_the_keys_the_pipeline_maps_and_no_values():
    (teacher,) = documents("secrets/teacher.example.yaml")
    (s3,) = documents("secrets/s3.example.yaml")
    assert teacher["metadata"]["name"] == TEACHER_SECRET
    assert set(teacher["stringData"]) == set(TEACHER_SECRET_KEYS)
    assert s3["metadata"]["name"] == S3_SECRET
    assert set(s3["stringData"]) == set(S3_SECRET_KEYS)
    for secret in (teacher, s3):
        for key, value in secret["stringData"].items():
            assert value.startswith("REPLACE_") or key == "AWS_ENDPOINT_URL", key


def test_the_launcher_config_reads_the_s3_secret():
    (launcher,) = documents("kfp-launcher.yaml")
    assert launcher["metadata"]["name"] == "kfp-launcher"
    assert launcher["data"]["defaultPipelineRoot"].startswith("s3://")
    reference = yaml.safe_load(launcher["data"]["providers"])["s3"]["default"]["credentials"]["secretRef"]
    assert reference["secretName"] == S3_SECRET
    assert {reference["accessKeyKey"], reference["secretKeyKey"]} <= set(S3_SECRET_KEYS)


def test_the_pipeline_service_accounts_may_manage_inference_services():
    role, binding, _, _, serving_account = documents("rbac.yaml")
    (rule,) = [r for r in role["rules"] if "inferenceservices" in r["resources"]]
    assert "servingruntimes" in rule["resources"]
    assert {"create", "patch", "get", "watch"} <= set(rule["verbs"])
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert {s["name"] for s in binding["subjects"]} == {"default-editor", "pipeline-runner"}
    assert serving_account["secrets"] == [{"name": S3_SECRET}]


def test_the_pipeline_service_accounts_may_get_create_and_delete_trainjobs_and_nothing_more():
    _, _, role, binding, _ = documents("rbac.yaml")
    assert role["rules"] == [
        {
            "apiGroups": ["trainer.kubeflow.org"],
            "resources": ["trainjobs"],
            "verbs": ["get", "create", "delete"],
        }
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert {s["name"] for s in binding["subjects"]} == {"default-editor", "pipeline-runner"}
