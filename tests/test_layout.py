"""The structure the project promises: the library never imports Streamlit nor the pages, the
import graphs of the library and of the pages have no cycle (lazy imports inside functions
included), and pages stay thin."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "losslens"
PAGES = ROOT / "pages"


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


def page_module_name(path: Path) -> str:
    return f"pages.{path.stem}"


def page_imports_of(path: Path) -> set[str]:
    """The page modules a page imports (`from pages import a, b` names each of them)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "pages":
            found |= {f"pages.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pages."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("pages.")}
    return found


def assert_no_cycle(graph: dict[str, set[str]]) -> None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, "import cycle: " + " -> ".join(path[path.index(name):] + [name])
        if name not in done:
            for dependency in graph.get(name, ()):
                visit(dependency, path + [name])
            done.add(name)

    for name in graph:
        visit(name, [])


def test_the_library_never_imports_streamlit():
    offenders = [p.name for p in CORE.rglob("*.py") if any(m.split(".")[0] == "streamlit" for m in imports_of(p))]
    assert offenders == []


def test_the_library_never_imports_the_pages():
    offenders = [p.name for p in CORE.rglob("*.py") if any(m.split(".")[0] == "pages" for m in imports_of(p))]
    assert offenders == []


def test_the_import_graph_has_no_cycle():
    modules = {module_name(p): p for p in CORE.rglob("*.py")}
    graph = {name: {m for m in imports_of(path) if m in modules and m != name}
             for name, path in modules.items() if name != "losslens"}   # the package re-exports
    assert_no_cycle(graph)
    assert "losslens.scoring.pipeline" in graph and "losslens.activelab.simulation" in graph


def test_the_pages_import_graph_has_no_cycle():
    modules = {page_module_name(p): p for p in PAGES.glob("*.py")}
    graph = {name: {m for m in page_imports_of(path) if m in modules and m != name} for name, path in modules.items()}
    assert_no_cycle(graph)
    assert "pages.review_screen" in graph["pages.review_focus"]   # what the review views share, in its own module


def test_pages_stay_thin():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "pages").glob("*.py")}
    assert max(sizes.values()) <= 215, sizes
