"""Serve: the trained model behind KServe (V1 and V2, micro-batched), a Gradio demo, and deployment.

Modules, by what they need: `config`, `protocol`, `batcher` and `manifests` are plain Python;
`model` and `server` import kserve; `deploy` and `kube` use the kubernetes client lazily; `demo`
imports gradio only when a page is opened. This package re-exports the light ones.
"""

from p2m_lib.serve.config import DEFAULT_HTTP_PORT, DEFAULT_MODEL_NAME, ServeConfig, check_model_name
from p2m_lib.serve.deploy import DeployResult, deploy_model
from p2m_lib.serve.manifests import ServiceSpec, render_manifests

__all__ = [
    "DEFAULT_HTTP_PORT",
    "DEFAULT_MODEL_NAME",
    "DeployResult",
    "ServeConfig",
    "ServiceSpec",
    "check_model_name",
    "deploy_model",
    "render_manifests",
]
