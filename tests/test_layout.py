"""The structure the project promises: the library never imports Streamlit, its import graph has
no cycle (lazy imports inside functions included), and pages stay thin."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "losslens"


def imports_of(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "losslens":
                found |= {f"losslens.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def module_name(path: Path) -> str:
    return ".".join(("losslens", *path.relative_to(CORE).with_suffix("").parts)).removesuffix(".__init__")


def test_the_library_never_imports_streamlit():
    offenders = [p.name for p in CORE.rglob("*.py") if any(m.split(".")[0] == "streamlit" for m in imports_of(p))]
    assert offenders == []


def test_the_import_graph_has_no_cycle():
    modules = {module_name(p): p for p in CORE.rglob("*.py")}
    graph = {name: {m for m in imports_of(path) if m in modules and m != name}
             for name, path in modules.items() if name != "losslens"}   # the package re-exports
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, "import cycle: " + " -> ".join(path[path.index(name):] + [name])
        if name not in done:
            for dependency in graph.get(name, ()):
                visit(dependency, path + [name])
            done.add(name)

    for name in graph:
        visit(name, [])
    assert "losslens.scoring.pipeline" in graph and "losslens.activelab.simulation" in graph


def test_pages_stay_thin():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "pages").glob("*.py")}
    assert max(sizes.values()) <= 215, sizes
