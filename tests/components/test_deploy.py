"""The deploy component: its body's early errors, without S3 or a cluster."""

import pytest
from kfp import dsl

from components.deploy import deploy
from p2m_lib.errors import P2MError


def run_artifacts(stage_outputs):
    """The artifacts of the run whose model is deployed: its lineage is read from them."""
    return {
        name: dsl.Dataset(uri=str(stage_outputs / path))
        for name, path in (("task", "task.json"), ("data", "data"), ("evaluation", "evaluation"))
    }


def test_deploy_refuses_a_missing_bucket_before_any_upload(stage_outputs):
    with pytest.raises(P2MError, match="no S3 bucket"):
        deploy.python_func(
            model=dsl.Model(uri=str(stage_outputs / "model")),
            serving_image="p2m-serving:test",
            **run_artifacts(stage_outputs),
        )


def test_deploy_refuses_a_folder_that_is_not_a_p2m_model(tmp_path, stage_outputs):
    with pytest.raises(P2MError):
        deploy.python_func(
            model=dsl.Model(uri=str(tmp_path)),
            serving_image="p2m-serving:test",
            s3_bucket="models",
            **run_artifacts(stage_outputs),
        )


def test_deploy_returns_the_endpoint_url():
    assert deploy.component_spec.outputs["Output"].type == "String"
    assert {
        "model",
        "task",
        "data",
        "evaluation",
        "run_id",
        "canary_percent",
        "namespace",
        "s3_bucket",
        "s3_prefix",
        "service_name",
        "serving_image",
    } <= set(deploy.component_spec.inputs)
