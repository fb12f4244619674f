"""The layering the docs promise (docs/architecture.md), checked on the source: imports point down
(`msrag` → `ui`/`regress` → `assistant` → `teams` → `retrieval.ingest` → `retrieval`), and no
module imports another that imports it back. Every import counts: inside functions, and under
`if TYPE_CHECKING:` too (a type-only circle is still a circle a reader has to untangle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from tests.conftest import REPO

PACKAGES = ("msrag", "ui", "regress", "assistant", "teams", "retrieval", "prompts")
# The layers, top-level packages and the write path inside `retrieval`, and what each may import
# besides itself.
ALLOWED = {
    "retrieval": set(),
    "retrieval.ingest": {"retrieval"},
    "prompts": set(),
    "teams": {"retrieval.ingest", "retrieval"},
    "assistant": {"teams", "retrieval.ingest", "retrieval"},
    # ui → regress: "Save as regression case" writes and records a case with regress's own code
    # (regress/feedback.py); regress never imports ui, so the two top layers stay acyclic.
    "ui": {"regress", "assistant", "teams", "retrieval.ingest", "retrieval"},
    "regress": {"assistant", "teams", "retrieval.ingest", "retrieval"},
    "msrag": {"ui", "regress", "assistant", "teams", "retrieval.ingest", "retrieval"},
}
# The libraries only a command may import: the packages below `msrag` are usable without them.
CLI_FRAMEWORKS = ("typer", "click")


def layer_of(module: str) -> str:
    """The layer a module belongs to: `retrieval.ingest.loaders` → `retrieval.ingest`."""
    if module == "retrieval.ingest" or module.startswith("retrieval.ingest."):
        return "retrieval.ingest"
    return module.split(".")[0]


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from pkg import module` imports the module
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for package in PACKAGES
        for p in (REPO / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def _graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for target in _imports(ast.parse(path.read_text(), str(path))):
            if target in modules and target != name:
                graph.add_edge(name, target)
    return graph


GRAPH = _graph()


def test_the_walk_sees_the_whole_tree() -> None:
    assert {
        "retrieval.retriever",
        "assistant.chat",
        "msrag.commands.ui",
        "regress.runner",
        "msrag.cli",
    } <= set(GRAPH)
    assert GRAPH.has_edge("msrag.cli", "msrag.commands.regress")


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_down(layer: str) -> None:
    upward = [
        (a, b)
        for a, b in GRAPH.edges
        if layer_of(a) == layer and layer_of(b) != layer and layer_of(b) not in ALLOWED[layer]
    ]
    assert not upward, f"{layer} imports layers above it: {upward}"


def test_no_import_cycles() -> None:
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    edges = [(a, b) for a, b in GRAPH.edges if not b.startswith(a + ".")]
    cycles = list(nx.simple_cycles(nx.DiGraph(edges)))
    assert not cycles, f"import cycles: {cycles[:5]}"


@pytest.mark.parametrize("layer", sorted(set(ALLOWED) - {"msrag"}))
def test_no_library_layer_imports_a_cli_framework(layer: str) -> None:
    offenders = sorted(
        (name, target)
        for name, path in _modules().items()
        if layer_of(name) == layer
        for target in _imports(ast.parse(path.read_text(), str(path)))
        if target.split(".")[0] in CLI_FRAMEWORKS
    )
    assert not offenders, f"{layer} imports a CLI framework (commands go in msrag/): {offenders}"


def test_importing_the_library_loads_no_cli_framework() -> None:
    # A fresh interpreter: this test process has typer loaded already. (click itself may come in
    # through third-party libraries: the static test above covers our own imports of it.)
    code = (
        "import sys, retrieval, retrieval.retriever, retrieval.ingest.pipeline, teams.identity, "
        "assistant.chat, regress.runner; "
        "assert 'typer' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
