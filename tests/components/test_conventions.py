"""Conventions every component keeps: its folder's files, one exported function, an up-to-date README."""

import pytest

from components.readme import COMPONENTS_DIR, component_names, load, render_readme

STAGES = {
    "parse",
    "retrieve_datasets",
    "retrieve_model",
    "check_student",
    "gather_labelled",
    "no_dataset_index",
    "generate",
    "process",
    "train",
    "train_job",
    "evaluate",
    "report",
    "deploy",
    "crawl_hub",
    "build_dataset_index",
    "build_model_index",
}


def test_every_stage_has_a_component():
    assert set(component_names()) == STAGES


@pytest.mark.parametrize("name", sorted(STAGES))
def test_component_folder_holds_one_function_and_its_readme(name):
    component = load(name)
    assert component.name == name.replace("_", "-")
    package = __import__(f"components.{name}", fromlist=["__all__"])
    assert package.__all__ == [name]
    assert (COMPONENTS_DIR / name / "README.md").read_text() == render_readme(name), (
        "README out of date: run `python -m components.readme`"
    )


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_input_and_output_is_documented(name):
    component = load(name)
    readme = render_readme(name)
    for field in [*(component.component_spec.inputs or {}), *(component.component_spec.outputs or {})]:
        row = next(line for line in readme.splitlines() if line.startswith(f"| {field} |"))
        assert not row.rstrip().endswith("|  |"), f"{name}.{field} has no description"
