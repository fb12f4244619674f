"""The layering the README promises, checked on the source: imports point down
(`msrag` → `ui`/`regress` → `assistant` → `retrieval`), and no module imports another that imports
it back (counting imports inside functions too; `if TYPE_CHECKING:` imports are types only)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

from tests.conftest import REPO

PACKAGES = ("msrag", "ui", "regress", "assistant", "retrieval", "prompts")
# What each layer may import besides itself.
ALLOWED = {
    "retrieval": set(),
    "prompts": set(),
    "assistant": {"retrieval"},
    # ui → regress: "Save as regression case" writes and records a case with regress's own code
    # (regress/feedback.py); regress never imports ui, so the two top layers stay acyclic.
    "ui": {"regress", "assistant", "retrieval"},
    "regress": {"assistant", "retrieval"},
    "msrag": {"ui", "regress", "assistant", "retrieval"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
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


def _graph() -> nx.DiGraph:
    modules = {
        _module_name(p): p
        for package in PACKAGES
        for p in (REPO / package).rglob("*.py")
        if "__pycache__" not in p.parts
    }
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
        "ui.cli",
        "regress.runner",
        "msrag.cli",
    } <= set(GRAPH)
    assert GRAPH.has_edge("msrag.cli", "regress.cli")


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_down(layer: str) -> None:
    upward = [
        (a, b)
        for a, b in GRAPH.edges
        if a.split(".")[0] == layer
        and b.split(".")[0] != layer
        and b.split(".")[0] not in ALLOWED[layer]
    ]
    assert not upward, f"{layer} imports layers above it: {upward}"


def test_no_import_cycles() -> None:
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    edges = [(a, b) for a, b in GRAPH.edges if not b.startswith(a + ".")]
    cycles = list(nx.simple_cycles(nx.DiGraph(edges)))
    assert not cycles, f"import cycles: {cycles[:5]}"
