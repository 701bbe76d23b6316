"""The import rules of docs/architecture.md, read from the source (no module is imported).

Layers, bottom to top: ``dlsuite.base`` < ``dlsuite.core_layers`` < ``dlsuite.serving`` <
``dlsuite.apps`` < ``dlsuite.cli``. A module may import its own layer and the ones below it, never
one above; and the module-level imports of the project's modules form no cycle (imports inside
functions are lazy on purpose and may point sideways, never up).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder on disk -> the package it installs as (setup.py's package_dir)
FOLDERS = {
    "dlsuite": "dlsuite",
    "core_layers": "dlsuite.core_layers",
    "serving": "dlsuite.serving",
    "apps": "dlsuite.apps",
}
LAYERS = ("dlsuite.base", "dlsuite.core_layers", "dlsuite.serving", "dlsuite.apps", "dlsuite.cli")


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every project module."""
    modules = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


MODULES = _modules()


def _layer(module: str) -> int | None:
    """Index of the layer of ``module`` in `LAYERS`; None for the root package and other names."""
    for index, layer in enumerate(LAYERS):
        if module == layer or module.startswith(layer + "."):
            return index
    return None


def _imports(path: Path, module: str) -> list[tuple[str, bool]]:
    """``(imported project module, at module level)`` for every import in the file, those made
    through ``importlib.import_module("...")`` included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under a module-level `if`/`try` still run at import time
        if isinstance(node, ast.If | ast.Try):
            top_level.update(id(child) for child in ast.walk(node))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; `from module import name` the module
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        elif (  # importlib.import_module("dlsuite.x") hides an import from a reader, not from us
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `a.b.c` where only `a.b` is a module
                name = name.rpartition(".")[0]
            if name:
                found.append((name, id(node) in top_level))
    return found


def test_the_source_tree_is_read():
    assert "dlsuite.apps.vision.train" in MODULES and "dlsuite.base.files" in MODULES
    assert "dlsuite.serving.server.app" in MODULES and "dlsuite.cli" in MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module):
    own = _layer(module)
    if own is None:  # the root package `dlsuite` is the public face: it may name any layer
        return
    upward = sorted(
        {
            name
            for name, _ in _imports(MODULES[module], module)
            if (_layer(name) or 0) > own and not name.startswith(module)
        }
    )
    assert not upward, f"{module} ({LAYERS[own]}) imports a layer above it: {upward}"


def test_module_level_imports_have_no_cycle():
    graph = {
        module: sorted({name for name, top in _imports(path, module) if top and name != module})
        for module, path in MODULES.items()
    }
    # A package's __init__ runs before its submodules: `a.b` importing `a` is not a cycle back.
    for module, targets in graph.items():
        graph[module] = [t for t in targets if not module.startswith(t + ".")]
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in graph.get(module, []):
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
