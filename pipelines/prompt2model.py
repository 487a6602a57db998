"""The prompt2model pipeline: a prompt to a fine-tuned, evaluated and (optionally) deployed student.

parse -> (retrieve datasets | no dataset index) -> gather labelled data, and generate ->
(retrieve model | check student) -> process -> train (GPU pool, or a TrainJob for several GPUs) ->
evaluate -> report -> (deploy).
Steps in parentheses run when their parameter asks for them: an index URI, deploy=true; deploy also
waits for the evaluate step's promotion gate to say promote.
"""

from kfp import dsl
from kfp.dsl import Artifact, graph_component

from components.check_student import check_student
from components.deploy import deploy as deploy_model
from components.evaluate import evaluate
from components.gather_labelled import gather_labelled
from components.generate import generate
from components.images import SERVING, image
from components.no_dataset_index import no_dataset_index
from components.parse import parse
from components.process import process
from components.report import report
from components.retrieve_datasets import retrieve_datasets
from components.retrieve_model import retrieve_model
from pipelines.kubernetes import (
    NETWORK_RETRIES,
    network_step,
    on_work_volume,
    uses_s3,
    uses_teacher,
)
from pipelines.training import add_train_step

PIPELINE_NAME = "prompt2model"


def build_prompt2model(
    work_volume: str = "", retries: int = NETWORK_RETRIES, trainjobs: bool = True
) -> graph_component.GraphComponent:
    """The prompt2model pipeline with its compile-time settings.

    Args:
        work_volume: A PVC mounted at /p2m-work in the steps that keep resumable state or read
            labelled files; empty for none.
        retries: Retries of the steps that call a remote service; the local runner uses 0, so that
            a failure stops at once and a rerun resumes.
        trainjobs: Train on more than one GPU or node with a Kubeflow Trainer TrainJob
            (`pipelines.training`); False wires the in-pod train task alone, for the local runner.
    """

    @dsl.pipeline(name=PIPELINE_NAME, description="From a prompt to a small, evaluated, deployable model.")
    def prompt2model(
        prompt: str,
        profile: str = "quick",
        num_examples: int = 0,
        generation: dict = {},  # noqa: B006
        training: dict = {},  # noqa: B006 (KFP reads the default from the signature)
        eval_rows: int = 0,
        seed: int = 42,
        teacher: str = "auto",
        teacher_base_url: str = "",
        teacher_model: str = "",
        student: str = "",
        max_student_bytes: int = 3000000000,
        dataset_path: str = "",
        input_col: str = "input",
        output_col: str = "output",
        retrieved_dataset: str = "",
        retrieved_columns: str = "",
        test_dataset_path: str = "",
        test_input_col: str = "input",
        test_output_col: str = "output",
        bertscore_model: str = "",
        dataset_index_uri: str = "",
        model_index_uri: str = "",
        work_dir: str = "",
        gpu_type: str = "nvidia.com/gpu",
        gpus_per_node: int = 1,
        train_nodes: int = 1,
        cpu_processes: int = 1,
        training_runtime: str = "torch-distributed",
        train_timeout_s: int = 86400,
        gpu_node_selector: dict = {},  # noqa: B006
        gpu_tolerations: list = [],  # noqa: B006
        deploy: bool = False,
        namespace: str = "",
        s3_bucket: str = "",
        s3_prefix: str = "p2m",
        service_name: str = "p2m-student",
        min_replicas: int = 1,
        max_replicas: int = 1,
        serving_cpu: str = "1",
        serving_memory: str = "2Gi",
        serving_gpus: int = 0,
        canary_percent: int = 10,
        gate: dict = {},  # noqa: B006
        run_info: dict = {},  # noqa: B006
    ) -> None:
        """Prompt2Model: parse, retrieve, generate, train, evaluate, report and deploy.

        Args:
            prompt: The user's prompt: an instruction, then optional demonstrations.
            profile: quick or standard: generation and training budget.
            num_examples: Examples to generate; 0 keeps the profile's.
            generation: GenerationConfig fields to change, e.g. {"max_requests": 500, "max_cost": 2.5}.
            training: TrainConfig fields to change, e.g. {"epochs": 3, "learning_rate": 5e-5, "lora": true}.
            eval_rows: Rows of each test set scored (real and held-out); 0 keeps the profile's
                (quick 40, standard 200).
            seed: Seed for sampling and splitting.
            teacher: auto, local, openai, an embedded model or a folder; used when teacher_base_url is empty.
            teacher_base_url: The teacher's OpenAI-compatible endpoint; its key comes from the
                p2m-teacher secret.
            teacher_model: The teacher model's name on that endpoint.
            student: The student's hub name or folder; empty: the model index's best fit, else
                the embedded SmolLM2.
            max_student_bytes: Size limit of a retrieved student's weights.
            dataset_path: Labelled training data the tasks can read (on the work volume); empty for none.
            input_col: Input column(s) of dataset_path, comma-separated.
            output_col: Output column of dataset_path.
            retrieved_dataset: NAME or NAME:CONFIG of a Hub dataset (or a path the tasks can read) to
                train on; empty: with a dataset index, the best-ranked one that loads and has
                usable columns.
            retrieved_columns: IN[,IN...]->OUT: that dataset's columns; empty: from the catalog's
                mapping, the teacher or conventional names.
            test_dataset_path: Real labelled test data the tasks can read; empty for none.
            test_input_col: Input column(s) of test_dataset_path.
            test_output_col: Output column of test_dataset_path.
            bertscore_model: Encoder for BERTScore; empty for the embedded MiniLM.
            dataset_index_uri: URI of a dataset index from the index pipeline; empty: no dataset retrieval.
            model_index_uri: URI of a model index from the index pipeline; empty: no model retrieval.
            work_dir: Folder for generation state and checkpoints, so that a rerun resumes
                (e.g. /p2m-work/<name> on the work volume); empty: nothing is kept.
            gpu_type: Accelerator resource the train step requests, e.g. nvidia.com/gpu.
            gpus_per_node: GPUs per training node, one process each; 0 trains on CPU. More than one
                GPU in all trains with a Kubeflow Trainer TrainJob (needs the work volume).
            train_nodes: Training nodes; more than one trains with a TrainJob.
            cpu_processes: Processes that train on CPU (gloo) in the train step's own pod; `p2m run
                --nproc` sets it.
            training_runtime: The ClusterTrainingRuntime a TrainJob refers to.
            train_timeout_s: Longest wait for a TrainJob; it is deleted past it.
            gpu_node_selector: Node labels of the GPU pool, e.g. {"pool": "gpu"}.
            gpu_tolerations: Tolerations for the GPU pool's taints, as Kubernetes objects.
            deploy: Deploy the student as a KServe InferenceService.
            namespace: Namespace of the InferenceService; empty for the pipeline's own.
            s3_bucket: Bucket the model is uploaded to for serving.
            s3_prefix: Key prefix inside the bucket.
            service_name: Name of the InferenceService.
            min_replicas: Fewest serving replicas.
            max_replicas: Most serving replicas.
            serving_cpu: CPU request and limit of a serving replica.
            serving_memory: Memory request and limit of a serving replica.
            serving_gpus: GPUs of a serving replica (0: CPU serving).
            canary_percent: Share of traffic a new model of an existing service takes until
                `p2m promote` (100: all of it at once).
            gate: Promotion thresholds (min_exact_match, min_gain_over_teacher, max_latency_ms):
                deploy runs only when the student passes them ("off" turns one off); default: at
                least as good as the prompted teacher.
            run_info: Merged into summary.json (set by the local runner).
        """
        teacher_args = {
            "teacher": teacher,
            "teacher_base_url": teacher_base_url,
            "teacher_model": teacher_model,
        }
        parsed = uses_teacher(parse(prompt=prompt, **teacher_args), retries)
        task = parsed.outputs["task"]

        with dsl.If(dataset_index_uri != "", name="dataset-index-given"):
            dataset_index = dsl.importer(
                artifact_uri=dataset_index_uri, artifact_class=Artifact, reimport=False
            )
            found = uses_teacher(
                retrieve_datasets(task=task, index=dataset_index.output, **teacher_args), retries
            )
        with dsl.Else(name="no-dataset-index"):
            not_searched = no_dataset_index()
        gathered = gather_labelled(
            task=task,
            candidates=dsl.OneOf(found.outputs["Output"], not_searched.output),
            dataset_path=dataset_path,
            input_col=input_col,
            output_col=output_col,
            retrieved_dataset=retrieved_dataset,
            retrieved_columns=retrieved_columns,
            **teacher_args,
        )
        uses_teacher(gathered, retries)

        generated = generate(
            task=task,
            profile=profile,
            num_examples=num_examples,
            generation=generation,
            seed=seed,
            work_dir=work_dir,
            **teacher_args,
        )
        uses_teacher(generated, retries)

        with dsl.If(model_index_uri != "", name="model-index-given"):
            model_index = dsl.importer(artifact_uri=model_index_uri, artifact_class=Artifact, reimport=False)
            retrieved = retrieve_model(
                task=task,
                index=model_index.output,
                student=student,
                max_size_bytes=max_student_bytes,
                **teacher_args,
            )
            uses_teacher(retrieved, retries)
        with dsl.Else(name="no-model-index"):
            checked = check_student(student=student)
        chosen = dsl.OneOf(retrieved.outputs["Output"], checked.output)

        processed = process(
            task=task,
            generated=generated.outputs["generated"],
            labelled=gathered.outputs["labelled"],
            student=chosen,
            profile=profile,
            seed=seed,
        )
        trained = add_train_step(
            inputs={
                "task": task,
                "data": processed.outputs["data"],
                "student": chosen,
                "profile": profile,
                "training": training,
                "work_dir": work_dir,
            },
            gpu_pool={
                "gpu_type": gpu_type,
                "gpus_per_node": gpus_per_node,
                "train_nodes": train_nodes,
                "gpu_node_selector": gpu_node_selector,
                "gpu_tolerations": gpu_tolerations,
            },
            trainjob={"training_runtime": training_runtime, "timeout_s": train_timeout_s},
            cpu_processes=cpu_processes,
            work_volume=work_volume,
            trainjobs=trainjobs,
        )
        evaluated = evaluate(
            task=task,
            model=trained.model,
            data=processed.outputs["data"],
            profile=profile,
            eval_rows=eval_rows,
            test_dataset_path=test_dataset_path,
            test_input_col=test_input_col,
            test_output_col=test_output_col,
            bertscore_model=bertscore_model,
            gate=gate,
            **teacher_args,
        )
        uses_teacher(evaluated, retries)
        for step in (gathered, generated, processed, evaluated):
            on_work_volume(step, work_volume)

        report(
            task=task,
            generated=generated.outputs["generated"],
            data=processed.outputs["data"],
            model=trained.model,
            evaluation=evaluated.outputs["evaluation"],
            parse_seconds=parsed.outputs["Output"],
            labelled_seconds=gathered.outputs["Output"],
            generate_seconds=generated.outputs["Output"],
            process_seconds=processed.outputs["Output"],
            train_seconds=trained.seconds,
            evaluate_seconds=evaluated.outputs["seconds"],
            profile=profile,
            run_info=run_info,
        )

        # noqa: E712 below: KFP conditions, not Python tests.
        with (
            dsl.If(deploy == True, name="deploy-requested"),  # noqa: E712
            dsl.If(evaluated.outputs["promote"] == True, name="gate-promotes"),  # noqa: E712
        ):
            deployed = deploy_model(
                model=trained.model,
                task=task,
                data=processed.outputs["data"],
                evaluation=evaluated.outputs["evaluation"],
                run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                serving_image=image(SERVING),
                namespace=namespace,
                s3_bucket=s3_bucket,
                s3_prefix=s3_prefix,
                service_name=service_name,
                min_replicas=min_replicas,
                max_replicas=max_replicas,
                cpu=serving_cpu,
                memory=serving_memory,
                gpus=serving_gpus,
                canary_percent=canary_percent,
            )
            network_step(deployed, retries)
            uses_s3(deployed)

    return prompt2model


prompt2model = build_prompt2model()
