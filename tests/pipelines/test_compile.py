"""`p2m compile`: both pipelines as KFP IR with their Kubernetes platform spec, read back from the YAML."""

import pytest
import yaml

from components.images import BASE, TRAINER, image
from pipelines.compile import compile_pipelines
from pipelines.kubernetes import S3_SECRET, TEACHER_SECRET, WORK_MOUNT

SECRET_VALUES = {"OPENAI_API_KEY": "sk-never-in-yaml", "AWS_SECRET_ACCESS_KEY": "aws-never-in-yaml"}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        for name, value in SECRET_VALUES.items():
            env.setenv(name, value)
        out = tmp_path_factory.mktemp("compiled")
        paths = compile_pipelines(out, work_volume="p2m-work")
    return {path.name: (path.read_text(), read_ir(path.read_text())) for path in paths}


def read_ir(text):
    """The pipeline spec with the platform spec (KFP writes them as two YAML documents) under "platforms"."""
    spec, *platform = yaml.safe_load_all(text)
    return {**spec, **(platform[0] if platform else {})}


@pytest.fixture(scope="module")
def prompt2model(compiled):
    return compiled["prompt2model.yaml"][1]


def every_task(spec):
    """The tasks of the root DAG and of every nested DAG (condition branches), by name."""
    dags = [spec["root"]["dag"], *(c["dag"] for c in spec["components"].values() if "dag" in c)]
    return {name: task for dag in dags for name, task in dag["tasks"].items()}


def test_compile_writes_both_pipelines(compiled):
    assert set(compiled) == {"prompt2model.yaml", "index.yaml"}


def test_every_stage_is_a_task(prompt2model, compiled):
    assert {
        "parse",
        "retrieve-datasets",
        "generate",
        "retrieve-model",
        "check-student",
        "process",
        "train",
        "train-job",
        "evaluate",
        "report",
        "deploy",
    } <= set(every_task(prompt2model))
    assert {"crawl-hub", "build-dataset-index", "build-model-index"} <= set(
        every_task(compiled["index.yaml"][1])
    )


def test_every_component_input_named_like_a_pipeline_parameter_is_wired_from_it(prompt2model):
    pipeline_parameters = set(prompt2model["root"]["inputDefinitions"]["parameters"])
    # These take the student that retrieve_model or check_student chose.
    chosen = {
        ("process", "student"),
        ("train", "student"),
        ("train-job", "student"),
        ("train-job-2", "student"),
    }
    for name, task in every_task(prompt2model).items():
        component = prompt2model["components"][task["componentRef"]["name"]]
        for parameter in (
            set(component.get("inputDefinitions", {}).get("parameters", {})) & pipeline_parameters
        ):
            if (name, parameter) in chosen:
                continue
            source = task["inputs"]["parameters"].get(parameter, {}).get("componentInputParameter")
            assert source in {parameter, f"pipelinechannel--{parameter}"}, f"{name}.{parameter} is not wired"


def test_the_train_task_requests_the_gpu_from_parameters(prompt2model):
    resources = prompt2model["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert "gpu_type" in resources["accelerator"]["resourceType"]
    assert "gpus_per_node" in resources["accelerator"]["resourceCount"]


def test_the_platform_spec_holds_the_gpu_pool_secrets_and_work_volume(prompt2model):
    executors = prompt2model["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    train = executors["exec-train"]
    # The train task sits in a condition's branch, which takes the pipeline's parameters as channels.
    assert (
        train["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"]
        == "pipelinechannel--gpu_node_selector"
    )
    assert (
        train["tolerations"][0]["tolerationJson"]["componentInputParameter"]
        == "pipelinechannel--gpu_tolerations"
    )
    for step in ("parse", "generate", "evaluate", "retrieve-datasets", "retrieve-model"):
        (secret,) = executors[f"exec-{step}"]["secretAsEnv"]
        assert secret["secretName"] == TEACHER_SECRET
        assert secret["keyToEnv"] == [{"secretKey": "api-key", "envVar": "OPENAI_API_KEY"}]
    (s3,) = executors["exec-deploy"]["secretAsEnv"]
    assert s3["secretName"] == S3_SECRET
    assert {m["envVar"] for m in s3["keyToEnv"]} >= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for step in ("generate", "process", "train", "train-job", "train-job-2", "evaluate"):
        assert executors[f"exec-{step}"]["pvcMount"][0]["mountPath"] == WORK_MOUNT
    assert "secretAsEnv" not in executors["exec-train"]


def test_no_secret_travels_as_a_parameter_or_a_value(compiled, prompt2model):
    parameters = set(prompt2model["root"]["inputDefinitions"]["parameters"])
    assert not {name for name in parameters if "key" in name.lower() or "secret" in name.lower()}
    for text, _ in compiled.values():
        for value in SECRET_VALUES.values():
            assert value not in text


def test_images_come_from_the_project_setting_and_nothing_is_pip_installed(compiled):
    for text, spec in compiled.values():
        containers = [
            e["container"] for e in spec["deploymentSpec"]["executors"].values() if "container" in e
        ]
        assert {c["image"] for c in containers} <= {image(BASE), image(TRAINER)}
        assert "pip install" not in text
    executors = compiled["prompt2model.yaml"][1]["deploymentSpec"]["executors"]
    assert executors["exec-train"]["container"]["image"] == image(TRAINER)


def test_network_steps_retry_and_deterministic_steps_cache(prompt2model):
    tasks = every_task(prompt2model)
    for name in ("parse", "generate", "evaluate", "retrieve-datasets", "retrieve-model", "deploy"):
        assert tasks[name]["retryPolicy"]["maxRetryCount"] > 0, name
        assert not tasks[name]["cachingOptions"].get("enableCache"), name
    for name in ("check-student", "process", "train", "report"):
        assert tasks[name]["cachingOptions"]["enableCache"], name
        assert "retryPolicy" not in tasks[name], name


def test_deploy_and_retrieval_are_gated_by_their_parameters(prompt2model):
    parameters = prompt2model["root"]["inputDefinitions"]["parameters"]
    assert parameters["deploy"]["defaultValue"] is False
    conditions = " ".join(
        t.get("triggerPolicy", {}).get("condition", "") for t in every_task(prompt2model).values()
    )
    for parameter in ("deploy", "dataset_index_uri", "model_index_uri"):
        assert f"pipelinechannel--{parameter}" in conditions


def _trigger(prompt2model, task_name):
    """The condition under which a task runs: that of the condition group whose DAG holds it."""
    (holder,) = [
        name
        for name, c in prompt2model["components"].items()
        if task_name in c.get("dag", {}).get("tasks", {})
    ]
    (group,) = [t for t in every_task(prompt2model).values() if t["componentRef"]["name"] == holder]
    return group["triggerPolicy"]["condition"]


def test_a_trainjob_trains_only_when_more_than_one_gpu_or_node_is_asked_for(prompt2model):
    nodes = "int(inputs.parameter_values['pipelinechannel--train_nodes']) > 1"
    gpus = "int(inputs.parameter_values['pipelinechannel--gpus_per_node']) > 1"

    assert _trigger(prompt2model, "train-job") == nodes
    assert _trigger(prompt2model, "train-job-2") == f"!({nodes}) && {gpus}"
    assert _trigger(prompt2model, "train") == f"!({nodes}) && !({gpus})"
    # Later steps take the model of whichever branch ran.
    model = every_task(prompt2model)["evaluate"]["inputs"]["artifacts"]["model"]["taskOutputArtifact"]
    assert "oneof" in model["outputArtifactKey"]


def test_the_trainjob_task_runs_on_the_base_image_with_the_trainer_image_and_work_volume_for_its_pods(
    prompt2model,
):
    executors = prompt2model["deploymentSpec"]["executors"]
    assert executors["exec-train-job"]["container"]["image"] == image(BASE)
    assert "resources" not in executors["exec-train-job"]["container"]  # it only waits: no GPU
    parameters = every_task(prompt2model)["train-job"]["inputs"]["parameters"]
    assert parameters["trainer_image"]["runtimeValue"]["constant"] == image(TRAINER)
    assert parameters["work_volume"]["runtimeValue"]["constant"] == "p2m-work"
    assert parameters["work_mount"]["runtimeValue"]["constant"] == WORK_MOUNT
    assert parameters["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    defaults = prompt2model["root"]["inputDefinitions"]["parameters"]
    assert (defaults["train_nodes"]["defaultValue"], defaults["gpus_per_node"]["defaultValue"]) == (1, 1)
    assert defaults["training_runtime"]["defaultValue"] == "torch-distributed"


def test_image_names_follow_the_registry_and_tag_settings(monkeypatch):
    monkeypatch.setenv("P2M_IMAGE_REGISTRY", "registry.example.com/team/")
    monkeypatch.setenv("P2M_IMAGE_TAG", "1.2.3")
    assert image(TRAINER) == "registry.example.com/team/p2m-trainer:1.2.3"
    monkeypatch.delenv("P2M_IMAGE_TAG")
    assert not image(BASE).endswith(":latest")


@pytest.mark.fleet
def test_deploy_runs_only_inside_the_gate_condition_on_the_evaluate_steps_decision(prompt2model):
    """deploy=true asks for a deployment; the evaluate step's `promote` output must allow it too."""
    components = prompt2model["components"]
    dags = {name: component["dag"]["tasks"] for name, component in components.items() if "dag" in component}
    dags["root"] = prompt2model["root"]["dag"]["tasks"]
    parent = {
        task["componentRef"]["name"]: (dag, name, task.get("triggerPolicy", {}).get("condition"))
        for dag, tasks in dags.items()
        for name, task in tasks.items()
    }
    deploy_dag, _, _ = parent["comp-deploy"]
    gate_dag, _, gate_condition = parent[deploy_dag]
    outer_dag, _, requested_condition = parent[gate_dag]
    assert gate_condition == "inputs.parameter_values['pipelinechannel--evaluate-promote'] == true"
    assert requested_condition == "inputs.parameter_values['pipelinechannel--deploy'] == true"
    assert outer_dag == "root"
    outputs = components["comp-evaluate"]["outputDefinitions"]["parameters"]
    assert outputs["promote"]["parameterType"] == "BOOLEAN"
    # The run's id reaches the deploy step for the lineage annotations.
    deploy_inputs = every_task(prompt2model)["deploy"]["inputs"]["parameters"]
    assert deploy_inputs["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
