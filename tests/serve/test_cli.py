"""`p2m serve`, `p2m demo` and `p2m deploy` as commands: folders, dry-run output, user errors."""

import json
import subprocess
import sys

import pytest
import typer
import yaml
from typer.testing import CliRunner

from p2m_lib.cli.serving import default_service_name, register_serving_commands, single_command_app
from p2m_lib.errors import P2MError
from p2m_lib.serve.config import find_model_dir

runner = CliRunner()


@pytest.fixture
def run_dir(tmp_path, served_model_dir):
    """A run folder as `p2m run` leaves it: summary.json pointing at model/."""
    run = tmp_path / "Date Normalisation_2"
    run.mkdir()
    (run / "model").symlink_to(served_model_dir, target_is_directory=True)
    (run / "summary.json").write_text(json.dumps({"model": {"path": "model"}}))
    return run


def test_the_commands_register_on_an_app():
    app = typer.Typer()
    register_serving_commands(app)

    assert sorted(command.name for command in app.registered_commands) == [
        "demo",
        "deploy",
        "promote",
        "rollback",
        "serve",
    ]


def test_deploy_dry_run_prints_the_two_manifests(run_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))

    result = runner.invoke(single_command_app("deploy"), [str(run_dir), "--bucket", "models", "--dry-run"])

    assert result.exit_code == 0, result.output
    runtime, service = yaml.safe_load_all(result.stdout)
    assert (runtime["kind"], service["kind"]) == ("ServingRuntime", "InferenceService")
    assert service["metadata"]["name"] == "date-normalisation-2"
    assert service["spec"]["predictor"]["model"]["storageUri"].startswith(
        "s3://models/p2m/date-normalisation-2/"
    )


def test_a_user_error_is_one_line_and_exit_code_2(tmp_path):
    result = runner.invoke(single_command_app("serve"), [str(tmp_path)])

    assert result.exit_code == 2
    assert "neither a model folder" in result.output


def test_demo_without_gradio_says_how_to_install_it(run_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # what an absent package looks like to import

    result = runner.invoke(single_command_app("demo"), [str(run_dir)])

    assert result.exit_code == 2
    assert "pip install gradio" in result.output


def test_the_demo_sidecars_command_is_the_demo_command():
    # The command `p2m_lib.serve.manifests` gives the sidecar, with the flags it passes.
    result = subprocess.run(
        [sys.executable, "-m", "p2m_lib.serve.demo", "--help"], capture_output=True, text=True, check=True
    )

    assert "Usage: python -m p2m_lib.serve.demo" in result.stdout
    assert all(flag in result.stdout for flag in ("--endpoint", "--wait", "--host", "--port"))


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("runs/dates", "dates"),
        ("runs/Date Norm_2/model", "date-norm-2"),
        ("runs/2024", "p2m-2024"),
        ("x" * 60, "x" * 45),
    ],
)
def test_service_names_come_from_the_run_folder(tmp_path, folder, name):
    assert default_service_name(tmp_path / folder) == name


def test_a_model_folder_is_found_from_a_run_folder_or_given_directly(run_dir, served_model_dir, tmp_path):
    assert find_model_dir(run_dir) == run_dir / "model"
    assert find_model_dir(served_model_dir) == served_model_dir
    with pytest.raises(P2MError, match="run `p2m run` first"):
        find_model_dir(tmp_path)
