"""Deploy: the trained student uploaded to S3 and served as a KServe InferenceService."""

from kfp.dsl import Dataset, Input, Model

from components.images import p2m_component


@p2m_component()
def deploy(
    model: Input[Model],
    task: Input[Dataset],
    data: Input[Dataset],
    evaluation: Input[Dataset],
    serving_image: str,
    run_id: str = "",
    s3_bucket: str = "",
    s3_prefix: str = "p2m",
    namespace: str = "",
    service_name: str = "p2m-student",
    min_replicas: int = 1,
    max_replicas: int = 1,
    cpu: str = "1",
    memory: str = "2Gi",
    gpus: int = 0,
    canary_percent: int = 10,
    timeout_s: float = 600.0,
) -> str:
    """Upload the model to S3, create or patch its ServingRuntime and InferenceService, wait until Ready.

    A new model of an existing service is a canary: it takes `canary_percent` of the traffic until
    `p2m promote` (or `p2m rollback`). The InferenceService's annotations and the uploaded model
    card carry the model's lineage: p2m version, run id, sha256 of the prompt and of the training
    data, the teacher and the promotion gate's numbers.

    The S3 credentials and endpoint come from the p2m-s3 secret as environment variables; the
    task's service account must be allowed to manage InferenceServices (manifests/rbac.yaml), and
    the p2m-serving account lets KServe's storage initializer read the bucket.

    Args:
        model: The trained student.
        task: The parsed task (task.json): the prompt, for its sha256.
        data: The process step's splits: train.jsonl, for its sha256.
        evaluation: The evaluate step's folder: the teacher's name and the gate's decision.
        serving_image: The image that serves it (p2m-serving, fixed when the pipeline is compiled).
        s3_bucket: Bucket the model is uploaded to (created if missing).
        s3_prefix: Key prefix; the model goes under prefix/service_name/<content digest>/.
        namespace: Namespace of the InferenceService; empty for the pipeline's own.
        service_name: Name of the InferenceService (lowercase letters, digits, "-").
        min_replicas: Fewest serving replicas (0 lets KServe scale to zero).
        max_replicas: Most serving replicas.
        cpu: CPU request and limit of a replica.
        memory: Memory request and limit of a replica.
        gpus: nvidia.com/gpu limit of a replica (0: CPU serving).
        canary_percent: Share of traffic for a new model of an existing service (100: all of it).
        run_id: The KFP run's id (the pipeline passes its placeholder), for the lineage.
        timeout_s: How long to wait for the service to be Ready.

    Returns:
        The endpoint URL of the InferenceService.
    """
    from pathlib import Path

    from components.runtime import log_to_task
    from p2m_lib.serve.deploy import deploy_model
    from p2m_lib.serve.lineage import artifacts_lineage

    log_to_task()
    result = deploy_model(
        Path(model.path),
        name=service_name,
        namespace=namespace,
        bucket=s3_bucket,
        prefix=s3_prefix,
        image=serving_image,
        cpu=cpu,
        memory=memory,
        gpus=gpus,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        canary_traffic_percent=canary_percent,
        timeout_s=timeout_s,
        lineage=artifacts_lineage(Path(task.path), Path(data.path), Path(evaluation.path), run_id),
    )
    return result.url or ""
