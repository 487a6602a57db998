"""The fleet file: defaults merged into tasks, paths read relative to the file, one-line errors naming
the task and the field."""

from pathlib import Path

import pytest

from p2m_lib.errors import P2MError
from p2m_lib.evaluate.gate import GateThresholds
from p2m_lib.fleet import DeploySettings, load_fleet

pytestmark = pytest.mark.fleet
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write_fleet(tmp_path, text):
    (tmp_path / "prompt.txt").write_text("Say hi.\n\nInput: a\nOutput: hi a\n")
    (tmp_path / "test.jsonl").write_text('{"input": "b", "output": "hi b"}\n')
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_the_issues_shape_reads_with_defaults_merged_into_each_task(tmp_path):
    path = write_fleet(
        tmp_path,
        """
defaults: {profile: quick, gate: {min_gain_over_teacher: 0}, training: {max_steps: 5}}
tasks:
  - name: dates
    prompt_file: prompt.txt
    test_dataset: test.jsonl
    gate: {min_exact_match: 80}
    training: {lora: true}
  - name: tickets
    prompt: "Route the ticket."
    deploy: {enabled: true, bucket: models, cpu: 2, canary_percent: 25}
""",
    )
    fleet = load_fleet(path)
    dates, tickets = fleet.tasks
    assert (fleet.experiment, fleet.cluster_data_dir) == ("p2m", "")
    assert dates.prompt == "Say hi.\n\nInput: a\nOutput: hi a\n"
    assert dates.prompt_file == tmp_path / "prompt.txt"
    assert dates.test_dataset == tmp_path / "test.jsonl"
    assert dates.gate == GateThresholds(min_exact_match=80.0, min_gain_over_teacher=0.0)
    assert dates.training == {"max_steps": 5, "lora": True}
    assert dates.deploy == DeploySettings()
    assert tickets.prompt == "Route the ticket." and tickets.prompt_file is None
    assert tickets.gate == GateThresholds()
    assert tickets.deploy == DeploySettings(enabled=True, bucket="models", cpu="2", canary_percent=25)
    assert tickets.service_name == "tickets"


def test_the_example_fleet_reads():
    fleet = load_fleet(EXAMPLES / "fleet.yaml")
    assert [task.name for task in fleet.tasks] == ["dates", "tickets"]
    assert fleet.tasks[0].test_dataset == EXAMPLES / "date_normalization" / "test.jsonl"
    assert fleet.cluster_path(fleet.tasks[0].test_dataset) == "/p2m-work/fleet/date_normalization/test.jsonl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tasks: []", "tasks must be a non-empty list"),
        ("taks: [{name: a, prompt: x}]", "unknown field 'taks'; valid: experiment, cluster_data_dir"),
        ("tasks: [{name: Dates, prompt: x}]", "task 1: name must be lowercase letters, digits and '-'"),
        ("tasks: [{prompt: x}]", "task 1: name must be lowercase"),
        ("tasks: [{name: a, promt_file: p.txt}]", "task a: unknown field 'promt_file'; valid: name, prompt,"),
        ("tasks: [{name: a}]", "task a: give either prompt_file or prompt"),
        (
            "tasks: [{name: a, prompt: x, prompt_file: prompt.txt}]",
            "task a: give either prompt_file or prompt",
        ),
        ("tasks: [{name: a, prompt: '  '}]", "task a: prompt is empty"),
        ("tasks: [{name: a, prompt_file: nope.txt}]", "task a: prompt_file: prompt file "),
        ("tasks: [{name: a, prompt: x, test_dataset: nope.jsonl}]", "task a: test_dataset: "),
        ("tasks: [{name: a, prompt: x, seed: many}]", "task a: seed must be a whole number, not 'many'"),
        ("tasks: [{name: a, prompt: x, seed: true}]", "task a: seed must be a whole number, not True"),
        ("tasks: [{name: a, prompt: x, profile: huge}]", "task a: profile: unknown profile 'huge'"),
        ("tasks: [{name: a, prompt: x, gate: {min_em: 3}}]", "task a: gate: unknown threshold 'min_em'"),
        (
            "tasks: [{name: a, prompt: x, gate: {max_latency_ms: fast}}]",
            "task a: gate.max_latency_ms must be",
        ),
        ("tasks: [{name: a, prompt: x, gate: 80}]", "task a: gate must be a mapping"),
        ("tasks: [{name: a, prompt: x, deploy: {replicas: 2}}]", "task a: deploy: unknown field 'replicas'"),
        (
            "tasks: [{name: a, prompt: x, deploy: {enabled: yes please}}]",
            "task a: deploy.enabled must be true or",
        ),
        (
            "tasks: [{name: a, prompt: x, deploy: {canary_percent: 0}}]",
            "deploy.canary_percent must be 1-100, not 0",
        ),
        ("defaults: {prompt: x}\ntasks: [{name: a}]", "defaults: unknown field 'prompt'"),
        ("tasks: [{name: a, prompt: x}, {name: a, prompt: y}]", "task names must be unique; repeated: a"),
        (
            "defaults: {deploy: {enabled: true, service_name: one}}\n"
            "tasks: [{name: a, prompt: x}, {name: b, prompt: y}]",
            "two tasks deploy to the same service: one",
        ),
        ("tasks: [{name: a, prompt: x}]\nexperiment: [1]", "experiment must be text"),
        ("tasks: {name: a", "is not valid YAML"),
        ("- just a list", "a fleet file is a mapping with 'defaults' and 'tasks'"),
    ],
)
def test_every_mistake_is_one_line_naming_the_task_and_field(tmp_path, text, message):
    path = write_fleet(tmp_path, text)
    with pytest.raises(P2MError) as raised:
        load_fleet(path)
    assert message in str(raised.value)
    assert str(raised.value).startswith(str(path))
    assert "\n" not in str(raised.value)


def test_a_missing_fleet_file_is_a_clear_error(tmp_path):
    with pytest.raises(P2MError, match="cannot read fleet file .*nope.yaml"):
        load_fleet(tmp_path / "nope.yaml")


def test_cluster_paths_need_cluster_data_dir_and_a_file_inside_the_fleets_folder(tmp_path):
    fleet = load_fleet(
        write_fleet(tmp_path, "tasks: [{name: a, prompt_file: prompt.txt, test_dataset: test.jsonl}]")
    )
    with pytest.raises(P2MError, match="is a local file: set cluster_data_dir"):
        fleet.cluster_path(fleet.tasks[0].test_dataset)
    (tmp_path / "fleet.yaml").write_text(
        "cluster_data_dir: /data/\ntasks: [{name: a, prompt_file: prompt.txt, test_dataset: test.jsonl}]"
    )
    fleet = load_fleet(tmp_path / "fleet.yaml")
    assert fleet.cluster_path(fleet.tasks[0].test_dataset) == "/data/test.jsonl"
    with pytest.raises(P2MError, match="is outside the fleet file's folder"):
        fleet.cluster_path(tmp_path.parent / "elsewhere.jsonl")
