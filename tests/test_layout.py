"""The package's import graph: no circle, and every import points down the layers of ARCHITECTURE.md.

Imports are read with `ast`, deferred ones inside functions included, so a circle cannot hide
behind a local import. A new module must be given a layer in `LAYERS` (the table mirrors
ARCHITECTURE.md), which is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "lora_memory"

# Lowest first; a module may import from its own layer or a lower one. A package's entry covers
# every module in it; the root package (the public API) sits with the product it re-exports.
LAYERS = {
    # 1: values and small helpers, no model
    "lora_memory.errors": 1,
    "lora_memory.files": 1,
    "lora_memory.config": 1,
    "lora_memory.chunking": 1,
    "lora_memory.adapter": 1,
    "lora_memory.embedded": 1,
    "lora_memory.safe_unpickle": 1,
    # 2: the frozen backbone and what runs on it
    "lora_memory.injection": 2,
    "lora_memory.backbone": 2,
    "lora_memory.generation": 2,
    "lora_memory.adapter_io": 2,
    "lora_memory.passages": 2,
    "lora_memory.chat": 2,
    "lora_memory.confidence": 2,
    "lora_memory.segments": 2,
    # 3: the hypernetworks and the PEFT format
    "lora_memory.hypernets": 3,
    "lora_memory.peft_io": 3,
    # 4: storage, routing, loading
    "lora_memory.store": 4,
    "lora_memory.router": 4,
    "lora_memory.loading": 4,
    # 5: the product
    "lora_memory.memory": 5,
    "lora_memory.task": 5,
    "lora_memory.conversation": 5,
    "lora_memory.testing": 5,
    "lora_memory": 5,
    # 6-8: data, then evaluation, then the recipes and the benchmark that use both
    "lora_memory.data": 6,
    "lora_memory.evaluation": 7,
    "lora_memory.training": 8,
    "lora_memory.bench": 8,
    # 9: the command line
    "lora_memory.cli": 9,
}
FRAMEWORKS = ("langchain", "langchain_core", "llama_index")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module of the package that ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *filter(None, [base])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found |= {t for t in (resolve(t) for t in targets if t.split(".")[0] == PACKAGE) if t and t != name}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int:
    keys = [k for k in LAYERS if module == k or (k != PACKAGE and module.startswith(k + "."))]
    assert keys, f"{module} has no layer: add it to LAYERS here and to ARCHITECTURE.md"
    return LAYERS[max(keys, key=len)]


def test_the_import_graph_has_no_cycle():
    graph, state, stack = _graph(), {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_imports_only_point_down_the_layers():
    upward = [
        f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
        for a, targets in sorted(_graph().items())
        for b in sorted(targets)
        if _layer(b) > _layer(a)
    ]
    assert not upward, "imports running back up:\n" + "\n".join(upward)


def test_the_core_never_imports_a_framework_or_anything_outside_the_package():
    outside = ("tests", "experiments", "integrations", "examples", *FRAMEWORKS)
    found = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            found += [f"{name} imports {r}" for r in roots if r in outside]
    assert not found, "\n".join(found)


def test_the_architecture_document_names_every_layer_entry():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    named = {m.rsplit(".", 1)[-1] for m in LAYERS if m != PACKAGE}
    missing = sorted(n for n in named if f"`{n}" not in text)
    assert not missing, f"ARCHITECTURE.md does not place {missing}"


EXPERIMENTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_each_experiment_has_a_main_and_names_its_benchmarks_section(name):
    module = importlib.import_module(f"experiments.{name}")  # importing runs nothing: no argparse at import
    assert callable(getattr(module, "main", None)), f"experiments/{name}.py has no main()"
    headings = [line.lstrip("#").strip() for line in (ROOT / "BENCHMARKS.md").read_text().splitlines()
                if line.startswith("#")]
    sections = getattr(module, "SECTIONS", ())
    assert sections, f"experiments/{name}.py names no BENCHMARKS.md section (SECTIONS)"
    for section in sections:
        assert any(h.startswith(section) for h in headings), f"{name}: no BENCHMARKS.md section {section!r}"
    assert f"python -m experiments.{name}" in (ROOT / "BENCHMARKS.md").read_text() + (module.__doc__ or "")
    source = (ROOT / "experiments" / f"{name}.py").read_text()
    assert not re.search(r"sys\.path", source), f"{name} imports through sys.path"
