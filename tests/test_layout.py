"""The package layout stays true to the pipeline: no module imports from a stage after its own.

    ingest -> analysis -> index -> retrieval -> answering -> service -> api, evaluation, cli, langchain

settings and errors are shared by every stage and import none.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

STAGES = ("ingest", "analysis", "index", "retrieval", "answering", "service")
SHARED = ("settings", "errors")
LAST = len(STAGES)  # api, evaluation, cli, langchain: they may import anything


def _stage(module: str) -> int | None:
    """The stage of a dotted `assistant.…` module; None for the shared ones and the package."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "assistant" or parts[1] in SHARED:
        return None
    return STAGES.index(parts[1]) if parts[1] in STAGES else LAST


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "assistant":
                found += [f"assistant.{alias.name}" for alias in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.split(".")[0] == "assistant"]


def _modules(package: Path) -> dict[str, Path]:
    return {
        ".".join(("assistant", *path.relative_to(package).with_suffix("").parts)).removesuffix(".__init__"): path
        for path in package.rglob("*.py")
    }


def backward_imports(package: Path) -> list[str]:
    backwards = []
    for module, path in _modules(package).items():
        own = _stage(module)
        for imported in _imports(path):
            theirs = _stage(imported)
            if module.split(".")[1] in SHARED and theirs is not None:
                backwards.append(f"{module} (shared) imports {imported}")
            elif own is not None and theirs is not None and theirs > own:
                backwards.append(f"{module} imports {imported}, a later stage")
    return backwards


def test_no_module_imports_from_a_later_stage():
    assert backward_imports(REPO / "assistant") == []


def test_every_stage_says_what_enters_and_leaves_it():
    for stage in STAGES:
        doc = ast.get_docstring(ast.parse((REPO / "assistant" / stage / "__init__.py").read_text())) or ""
        assert "Enters:" in doc and "Leaves:" in doc and "Imports:" in doc, stage


def test_the_check_reports_a_backward_import(tmp_path):
    package = tmp_path / "assistant"
    (package / "index").mkdir(parents=True)
    (package / "index" / "store.py").write_text("from assistant.answering.types import Answer\n")
    (package / "answering").mkdir()
    (package / "answering" / "types.py").write_text("from assistant.index import store\nfrom assistant import errors\n")
    (package / "settings.py").write_text("from assistant.service import assembly\n")
    assert sorted(backward_imports(package)) == [
        "assistant.index.store imports assistant.answering.types, a later stage",
        "assistant.settings (shared) imports assistant.service",
    ]
