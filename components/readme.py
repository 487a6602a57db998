"""Every component's README.md, written from its signature and Google-style docstring.

`python -m components.readme` rewrites them; a test fails when one is out of date.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

COMPONENTS_DIR = Path(__file__).parent
_SECTION = re.compile(r"^(Args|Returns):\s*$")
_ARGUMENT = re.compile(r"^    (\w+): (.*)$")


def component_names() -> list[str]:
    """The component folders (each holds component.py), sorted."""
    return sorted(path.parent.name for path in COMPONENTS_DIR.glob("*/component.py"))


def load(name: str) -> Any:
    """The component that folder `name` exports."""
    return getattr(importlib.import_module(f"components.{name}"), name)


def render_readme(name: str) -> str:
    """The README of one component: what it does, its inputs and outputs, its image, how to use it."""
    component = load(name)
    summary, arguments, returns = parse_docstring(component.python_func.__doc__ or "")
    spec = component.component_spec
    image = spec.implementation.container.image.rsplit("/", 1)[-1].split(":")[0]
    lines = [
        f"# {name}",
        "",
        summary,
        "",
        f"Image: `{image}`, from P2M_IMAGE_REGISTRY with tag P2M_IMAGE_TAG.",
        "",
    ]
    lines += ["## Inputs", "", "| name | type | default | description |", "| --- | --- | --- | --- |"]
    for input_name, spec_input in (spec.inputs or {}).items():
        default = "" if spec_input.default is None else f"`{spec_input.default!r}`"
        lines.append(f"| {input_name} | {spec_input.type} | {default} | {arguments.get(input_name, '')} |")
    lines += ["", "## Outputs", "", "| name | type | description |", "| --- | --- | --- |"]
    for output_name, spec_output in (spec.outputs or {}).items():
        described = returns if output_name == "Output" else arguments.get(output_name, "")
        lines.append(f"| {output_name} | {spec_output.type} | {described} |")
    lines += ["", "## Use", "", "```python", f"from components.{name} import {name}", "```", ""]
    return "\n".join(lines)


def parse_docstring(docstring: str) -> tuple[str, dict[str, str], str]:
    """(summary, {argument or named output: description}, returns) of a Google-style docstring, each
    on one line."""
    summary: list[str] = []
    arguments: dict[str, list[str]] = {}
    returns: list[str] = []
    section = None
    named = False
    for line in inspect.cleandoc(docstring).splitlines():
        if heading := _SECTION.match(line):
            section = heading.group(1)
            named = section == "Args"
        elif (section == "Args" or not returns) and (argument := _ARGUMENT.match(line)):
            # A NamedTuple's outputs are listed under Returns like arguments: "name: description".
            arguments[argument.group(1)] = [argument.group(2)]
            named = True
        elif named and line.strip():
            arguments[list(arguments)[-1]].append(line.strip())
        elif section == "Returns" and line.strip():
            returns.append(line.strip())
        elif section is None:
            summary.append(line)
    joined = {argument: _cell(" ".join(words)) for argument, words in arguments.items()}
    return "\n".join(summary).strip(), joined, _cell(" ".join(returns))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main() -> None:
    """Rewrite every component's README.md."""
    for name in component_names():
        (COMPONENTS_DIR / name / "README.md").write_text(render_readme(name), encoding="utf-8")


if __name__ == "__main__":
    main()
