"""`p2m submit` and `p2m compile` as commands: typed parameters, fast one-line errors, no cluster."""

import socket

import pytest
import typer
from kfp_server import FakeKFP
from typer.testing import CliRunner

from p2m_lib.cli.common import user_errors
from p2m_lib.cli.kfp import compile_command, submit_command
from p2m_lib.errors import P2MError
from pipelines.prompt2model import build_prompt2model
from pipelines.submit import Submission, pipeline_arguments, submit


@pytest.fixture
def cli():
    """The two commands registered the way the main app registers them."""
    app = typer.Typer()
    app.command("compile")(user_errors(compile_command))
    app.command("submit")(user_errors(submit_command))
    return app


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_parameters_are_read_by_their_type():
    arguments = pipeline_arguments(
        build_prompt2model(),
        [
            "prompt=Translate: a=b",
            "num_examples=300",
            'training={"epochs": 3, "lora": true}',
            "deploy=true",
            'gpu_tolerations=[{"key": "gpu", "operator": "Exists"}]',
        ],
    )
    assert arguments == {
        "prompt": "Translate: a=b",
        "num_examples": 300,
        "training": {"epochs": 3, "lora": True},
        "deploy": True,
        "gpu_tolerations": [{"key": "gpu", "operator": "Exists"}],
    }


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["prompt=x", "num_exampels=3"], "has no parameter 'num_exampels'; valid: .*num_examples"),
        (["prompt=x", "num_examples=many"], "num_examples='many' is not a valid number integer"),
        (["prompt=x", "gpu_node_selector=[1]"], "is not a valid struct"),
        (["prompt=x", "deploy=yes"], "is not a valid boolean"),
        (["prompt"], "is not KEY=VALUE"),
        ([], "needs the parameter\\(s\\) prompt"),
    ],
)
def test_bad_parameters_fail_before_any_connection(pairs, message, closed_port):
    with pytest.raises(P2MError, match=message):
        submit("prompt2model", pairs, Submission(host=f"http://127.0.0.1:{closed_port}"))


def test_an_unreachable_host_is_a_one_line_error(cli, closed_port):
    result = CliRunner().invoke(
        cli, ["submit", "--host", f"http://127.0.0.1:{closed_port}", "--timeout", "2", "-P", "prompt=x"]
    )
    assert result.exit_code == 2
    assert f"cannot reach the KFP API at http://127.0.0.1:{closed_port}" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_pipeline_lists_the_known_ones(cli):
    result = CliRunner().invoke(cli, ["submit", "--pipeline", "nope", "-P", "prompt=x"])
    assert result.exit_code == 2
    assert "choose one of: prompt2model, index" in result.output


def test_submit_files_a_run_with_typed_arguments_and_prints_only_its_id(cli, tmp_path):
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("Say hi.\n")
    with FakeKFP() as kfp:
        result = CliRunner().invoke(
            cli, ["submit", "--host", kfp.url, "-p", str(prompt_file), "-P", "deploy=true"]
        )

    assert result.exit_code == 0, result.output
    (run,) = kfp.runs.values()
    # The run id alone on stdout, for `RUN=$(p2m submit ...)`; kfp.Client's links go to stderr.
    assert result.stdout == f"{run['run_id']}\n"
    assert "Run details" in result.stderr
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "prompt2model"
    parameters = run["runtime_config"]["parameters"]
    assert parameters["deploy"] is True and parameters["prompt"] == "Say hi.\n"
    assert [e["display_name"] for e in kfp.created("experiments")] == ["p2m"]


def test_compile_command_writes_both_files(cli, tmp_path):
    result = CliRunner().invoke(cli, ["compile", "--out", str(tmp_path / "ir")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "ir").iterdir()) == ["index.yaml", "prompt2model.yaml"]
