"""The shape of p2m_lib: no import cycles, the CLI on top, no KFP inside, modules readable in one sitting.

Imports are read from the source with ast, so function-level and `TYPE_CHECKING` imports count
as much as module-level ones: a cycle that only a lazy import closes is still a cycle to read.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "p2m_lib"
CLI = "p2m_lib.cli"
# Read in one sitting: past this, a module wants splitting along its seams.
MAX_MODULE_LINES = 550


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(LIBRARY.rglob("*.py"))}


def imported_names(path: Path) -> set[str]:
    """Every module name an import statement anywhere in the file names (`from a import b`: a.b if
    that is a module of p2m_lib, else a)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in MODULES else node.module)
    return names


IMPORTS = {name: imported_names(path) for name, path in MODULES.items()}


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def test_no_p2m_lib_module_imports_in_a_cycle():
    graph = {name: {target for target in targets if target in MODULES} for name, targets in IMPORTS.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
        cycle = []
    except graphlib.CycleError as error:
        # graphlib lists the cycle from importee to importer: reversed, each module imports the next.
        cycle = list(reversed(error.args[1]))
    assert cycle == [], f"import cycle: {' -> '.join(cycle)}"


def test_only_the_cli_and_entry_points_import_the_cli():
    # An entry point (`python -m p2m_lib.serve`) is a command, above the library: nothing imports it.
    importers = {
        name
        for name, targets in IMPORTS.items()
        if any(is_within(target, CLI) for target in targets)
        and not is_within(name, CLI)
        and MODULES[name].name != "__main__.py"
    }
    assert importers == set()


def test_no_p2m_lib_module_imports_kfp():
    importers = {name for name, targets in IMPORTS.items() if any(is_within(t, "kfp") for t in targets)}
    assert importers == set()


def test_every_library_module_reads_in_one_sitting():
    lengths = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    assert {name: lines for name, lines in lengths.items() if lines > MAX_MODULE_LINES} == {}
