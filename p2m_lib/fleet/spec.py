"""The fleet file: many tasks (prompts) with shared defaults, read and checked before anything runs.

```yaml
experiment: p2m                  # optional: the KFP experiment of `p2m submit --fleet`
cluster_data_dir: /p2m-work/fleet  # optional: where the cluster's tasks find the data files below
defaults: {profile: quick, gate: {min_gain_over_teacher: 0}}
tasks:
  - name: dates
    prompt_file: date_normalization/prompt.txt   # relative to the fleet file
    test_dataset: date_normalization/test.jsonl
    gate: {min_exact_match: 80}
```

Every task key may also be a default; a task's own value wins, and the mappings `gate`,
`deploy`, `training` and `generation` are merged key by key. Every problem is one line that names
the file, the task and the field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from p2m_lib.errors import P2MError
from p2m_lib.evaluate.gate import GateThresholds
from p2m_lib.serve.deploy import DEFAULT_CANARY_PERCENT
from p2m_lib.serve.manifests import SERVICE_NAME

# Mappings merged key by key between the defaults and a task.
MERGED = ("gate", "deploy", "training", "generation")
# Scalar task fields and the type each takes (bool before int: YAML's true is a Python int too).
SCALARS: dict[str, type] = {
    "prompt": str,
    "prompt_file": str,
    "profile": str,
    "num_examples": int,
    "seed": int,
    "teacher": str,
    "teacher_base_url": str,
    "teacher_model": str,
    "student": str,
    "dataset": str,
    "input_col": str,
    "output_col": str,
    "test_dataset": str,
    "test_input_col": str,
    "test_output_col": str,
}
TASK_KEYS = ("name", *SCALARS, *MERGED)
# A prompt belongs to one task: it is no default.
DEFAULT_KEYS = tuple(key for key in TASK_KEYS if key not in {"name", "prompt", "prompt_file"})
TOP_KEYS = ("experiment", "cluster_data_dir", "defaults", "tasks")


@dataclass(frozen=True)
class DeploySettings:
    """How a task's student is served once the gate promotes it.

    Attributes:
        enabled: Deploy at all (the pipeline's `deploy`).
        namespace: Namespace of the InferenceService; empty for the pipeline's own.
        service_name: Name of the InferenceService; empty for the task's name.
        bucket: S3 bucket the model is uploaded to.
        prefix: Key prefix in the bucket.
        cpu: CPU request and limit of a replica.
        memory: Memory request and limit of a replica.
        gpus: GPUs of a replica.
        min_replicas: Fewest replicas.
        max_replicas: Most replicas.
        canary_percent: Share of traffic a new revision of an existing service takes until
            `p2m promote` (100: all at once).
    """

    enabled: bool = False
    namespace: str = ""
    service_name: str = ""
    bucket: str = ""
    prefix: str = "p2m"
    cpu: str = "1"
    memory: str = "2Gi"
    gpus: int = 0
    min_replicas: int = 1
    max_replicas: int = 1
    canary_percent: int = DEFAULT_CANARY_PERCENT


@dataclass(frozen=True)
class FleetTask:
    """One task of the fleet: a prompt and everything its run takes; paths are resolved.

    `prompt` is the prompt's text (read from `prompt_file` when given, which is kept to name it).
    The other attributes are the pipeline's parameters of the same names (see
    pipelines/prompt2model.py); `dataset` and `test_dataset` are local files.
    """

    name: str
    prompt: str
    prompt_file: Path | None = None
    profile: str = "quick"
    num_examples: int = 0
    seed: int = 42
    teacher: str = "auto"
    teacher_base_url: str = ""
    teacher_model: str = ""
    student: str = ""
    dataset: Path | None = None
    input_col: str = "input"
    output_col: str = "output"
    test_dataset: Path | None = None
    test_input_col: str = "input"
    test_output_col: str = "output"
    training: Mapping[str, Any] = field(default_factory=dict)
    generation: Mapping[str, Any] = field(default_factory=dict)
    gate: GateThresholds = field(default_factory=GateThresholds)
    deploy: DeploySettings = field(default_factory=DeploySettings)

    @property
    def service_name(self) -> str:
        return self.deploy.service_name or self.name


@dataclass(frozen=True)
class Fleet:
    """A fleet file, read and checked.

    Attributes:
        path: The file.
        tasks: Its tasks, in file order.
        experiment: The KFP experiment its runs are filed under.
        cluster_data_dir: Where the cluster's tasks read the data files (a folder that mirrors
            the fleet file's folder, e.g. on the work volume); empty: the files are local only.
    """

    path: Path
    tasks: tuple[FleetTask, ...]
    experiment: str = "p2m"
    cluster_data_dir: str = ""

    def cluster_path(self, local: Path) -> str:
        """Where the cluster's tasks read `local`, a data file under the fleet file's folder.

        Raises:
            P2MError: No `cluster_data_dir` is set, or the file is outside the fleet's folder.
        """
        root = self.path.parent.resolve()
        if not self.cluster_data_dir:
            raise P2MError(
                f"{self.path}: {local} is a local file: set cluster_data_dir to the folder where the "
                "cluster's tasks read the fleet's data (e.g. /p2m-work/fleet on the work volume)"
            )
        try:
            relative = local.resolve().relative_to(root)
        except ValueError:
            raise P2MError(
                f"{self.path}: {local} is outside the fleet file's folder {root}, so cluster_data_dir "
                "cannot mirror it"
            ) from None
        return f"{self.cluster_data_dir.rstrip('/')}/{relative.as_posix()}"


def load_fleet(path: Path) -> Fleet:
    """Read and check a fleet file; prompt files are read, data files must exist.

    Raises:
        P2MError: Unreadable YAML, an unknown or mistyped key, a missing or duplicate task name, a
            task with no prompt or two, a file that does not exist, a bad gate or deploy setting;
            the message names the file, the task and the field.
    """
    import yaml

    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise P2MError(f"cannot read fleet file {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise P2MError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(document, dict):
        raise P2MError(f"{path}: a fleet file is a mapping with 'defaults' and 'tasks'")
    _known_keys(document, TOP_KEYS, str(path))
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise P2MError(f"{path}: defaults must be a mapping of task fields")
    _known_keys(defaults, DEFAULT_KEYS, f"{path}: defaults")
    tasks = document.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise P2MError(f"{path}: tasks must be a non-empty list")
    read = tuple(_task(path, defaults, entry, index) for index, entry in enumerate(tasks, 1))
    names = [task.name for task in read]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise P2MError(f"{path}: task names must be unique; repeated: {', '.join(duplicates)}")
    services = [(task.deploy.namespace, task.service_name) for task in read if task.deploy.enabled]
    shared = sorted({name for namespace, name in services if services.count((namespace, name)) > 1})
    if shared:
        raise P2MError(f"{path}: two tasks deploy to the same service: {', '.join(shared)}")
    experiment = document.get("experiment", "p2m")
    cluster_data_dir = document.get("cluster_data_dir", "")
    for key, value in (("experiment", experiment), ("cluster_data_dir", cluster_data_dir)):
        if not isinstance(value, str):
            raise P2MError(f"{path}: {key} must be text, not {value!r}")
    return Fleet(path, read, experiment, cluster_data_dir)


def _task(path: Path, defaults: dict[str, Any], entry: Any, index: int) -> FleetTask:
    if not isinstance(entry, dict):
        raise P2MError(f"{path}: task {index} must be a mapping of fields, not {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name):
        raise P2MError(
            f"{path}: task {index}: name must be lowercase letters, digits and '-', start with a letter "
            f"and be at most 45 characters, not {name!r}"
        )
    where = f"{path}: task {name}"
    _known_keys(entry, TASK_KEYS, where)
    if ("prompt" in entry) == ("prompt_file" in entry):
        raise P2MError(f"{where}: give either prompt_file or prompt")
    fields = {**defaults, **entry}
    for key in MERGED:
        parts = [defaults.get(key) or {}, entry.get(key) or {}]
        if not all(isinstance(part, dict) for part in parts):
            raise P2MError(f"{where}: {key} must be a mapping")
        fields[key] = {**parts[0], **parts[1]}
    for key, kind in SCALARS.items():
        if key in fields:
            fields[key] = _typed(fields[key], kind, f"{where}: {key}")
    _check_profile(fields.get("profile", "quick"), where)
    folder = path.parent
    for key in ("dataset", "test_dataset"):
        fields[key] = _existing(folder, fields[key], f"{where}: {key}") if fields.get(key) else None
    if "prompt_file" in fields:
        fields["prompt_file"] = folder / fields["prompt_file"]
        fields["prompt"] = _prompt(fields["prompt_file"], f"{where}: prompt_file")
    elif not fields["prompt"].strip():
        raise P2MError(f"{where}: prompt is empty")
    fields["gate"] = GateThresholds.from_dict(fields["gate"], f"{where}: gate")
    fields["deploy"] = _deploy(fields["deploy"], f"{where}: deploy")
    return FleetTask(**fields)


def _check_profile(profile: str, where: str) -> None:
    from p2m_lib.config import get_profile

    try:
        get_profile(profile)
    except P2MError as error:
        raise P2MError(f"{where}: profile: {error}") from None


def _deploy(values: dict[str, Any], where: str) -> DeploySettings:
    kinds = {item.name: type(item.default) for item in dataclasses.fields(DeploySettings)}
    _known_keys(values, tuple(kinds), where)
    settings = DeploySettings(
        **{key: _typed(value, kinds[key], f"{where}.{key}") for key, value in values.items()}
    )
    if settings.service_name and not SERVICE_NAME.fullmatch(settings.service_name):
        raise P2MError(f"{where}.service_name {settings.service_name!r} is not a valid service name")
    if not 0 < settings.canary_percent <= 100:
        raise P2MError(f"{where}.canary_percent must be 1-100, not {settings.canary_percent}")
    return settings


def _known_keys(values: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = [key for key in values if key not in known]
    if unknown:
        raise P2MError(f"{where}: unknown field {unknown[0]!r}; valid: {', '.join(known)}")


def _typed(value: Any, kind: type, where: str) -> Any:
    """`value` if it is of `kind` (an int is not a bool, a bool is not an int); numbers may be text."""
    if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # `cpu: 2` is meant as the quantity "2"
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    words = {str: "text", int: "a whole number", bool: "true or false"}
    raise P2MError(f"{where} must be {words[kind]}, not {value!r}")


def _existing(folder: Path, name: str, where: str) -> Path:
    file = folder / name
    if not file.exists():
        raise P2MError(f"{where}: {file} does not exist")
    return file


def _prompt(file: Path, where: str) -> str:
    from p2m_lib.parse import read_prompt

    try:
        return read_prompt(file)
    except P2MError as error:
        raise P2MError(f"{where}: {error}") from None
