"""The deploy component: its body's early errors, without S3 or a cluster."""

import pytest
from kfp import dsl

from components.deploy import deploy
from p2m_lib.errors import P2MError


def test_deploy_refuses_a_missing_bucket_before_any_upload(stage_outputs):
    with pytest.raises(P2MError, match="no S3 bucket"):
        deploy.python_func(
            model=dsl.Model(uri=str(stage_outputs / "model")), serving_image="p2m-serving:test"
        )


def test_deploy_refuses_a_folder_that_is_not_a_p2m_model(tmp_path):
    with pytest.raises(P2MError):
        deploy.python_func(
            model=dsl.Model(uri=str(tmp_path)), serving_image="p2m-serving:test", s3_bucket="models"
        )


def test_deploy_returns_the_endpoint_url():
    assert deploy.component_spec.outputs["Output"].type == "String"
    assert {"model", "namespace", "s3_bucket", "s3_prefix", "service_name", "serving_image"} <= set(
        deploy.component_spec.inputs
    )
