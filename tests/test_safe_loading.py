"""Issue 7: nothing is ever unpickled; weights are read from safetensors and JSON only.

One audited exception (issue 25): ``lora_memory/safe_unpickle.py`` subclasses ``pickle.Unpickler``
to read upstream Sakana AI checkpoints with a ``find_class`` that answers from a fixed table (its
refusals are tested in tests/test_upstream.py). That file may use ``pickle.Unpickler`` and nothing
else on the list; every other file, and every other unpickling call there, still fails the scan.

Two checks, each able to fail:

* static: every ``.py`` file under ``lora_memory/`` and ``integrations/`` is parsed and each
  reference is resolved through its imports (``import pickle as p; p.loads``,
  ``from torch import load as l``, ``f = pickle.loads``, ``getattr(pickle, "loads")``,
  ``importlib.import_module("pickle")``). Calls of ``torch.load``, ``pickle.load(s)`` and kin,
  ``joblib.load``, ``numpy.load(..., allow_pickle=True)`` and any ``weights_only=False`` fail the
  test. The scanner is itself tested on snippets that must and must not be flagged.
* at run time: ``pickle.load(s)``, ``pickle.Unpickler``, ``torch.load`` (and friends) are replaced
  by functions that record the call and raise; loading a checkpoint and a saved backbone,
  importing a PEFT folder, reopening a store and answering must all work and call none of them.
"""

from __future__ import annotations

import ast
import pickle
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from lora_memory import (
    Backbone,
    ParametricMemory,
    TaskAdapter,
    export_peft,
    import_peft,
    load_adapter,
    load_checkpoint,
    save_adapter,
    save_checkpoint,
)
from lora_memory.hypernets import fresh
from tests.conftest import lively_backbone, lively_doc2lora, random_adapter
from tests.test_memory import DOCS, NAMES, HashEncoder, question

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("lora_memory", "integrations", "examples", "experiments", "scripts")

# Fully qualified callables that unpickle (or run arbitrary code from a file) whatever the arguments.
PICKLE_MODULES = ("pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal")
BANNED = {
    "torch.load",
    "torch.serialization.load",
    "torch.jit.load",
    "pandas.read_pickle",
    "shelve.open",
    "marshal.load",
    "marshal.loads",
    *(f"{m}.{f}" for m in ("pickle", "_pickle", "cPickle", "dill", "cloudpickle") for f in ("load", "loads", "Unpickler")),
    "joblib.load",
}
NUMPY_LOAD = {"numpy.load", "numpy.lib.npyio.load"}
# file -> the flagged names it may use (and must: an allowance nothing needs is removed)
AUDITED = {"lora_memory/safe_unpickle.py": {"pickle.Unpickler"}}
# `from_pretrained` on anything but a tokenizer or config falls back to unpickling pytorch_model.bin
# unless told `use_safetensors=True` (or reading a GGUF file, which holds no pickle).
NO_WEIGHTS = ("Tokenizer", "Config", "Processor")


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}"


class _Scanner(ast.NodeVisitor):
    """Resolve names through imports and simple assignments; report unsafe loads."""

    def __init__(self, file: str, tree: ast.AST):
        self.file = file
        self.aliases: dict[str, str] = {}
        self.found: list[Violation] = []
        # Imports anywhere in the file (functions too) and `x = <banned thing>` aliases; two passes
        # so an alias of an alias resolves.
        for _ in range(2):
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for a in node.names:
                        if a.asname:
                            self.aliases[a.asname] = a.name
                        else:
                            top = a.name.split(".")[0]
                            self.aliases[top] = top
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    for a in node.names:
                        if a.name == "*":
                            if node.module.split(".")[0] in PICKLE_MODULES:
                                self._flag(node, f"from {node.module} import *")
                            continue
                        self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    resolved = self.qualify(node.value)
                    if resolved and (_is_banned(resolved) or resolved.split(".")[0] in PICKLE_MODULES or resolved in NUMPY_LOAD):
                        self.aliases[node.targets[0].id] = resolved
        self.visit(tree)
        self.found = sorted(set(self.found), key=lambda v: (v.line, v.what))

    def qualify(self, node: ast.AST) -> str | None:
        """Dotted name of an expression built from imported names, else None."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):  # importlib.import_module("pickle") / __import__("pickle")
            func = self.qualify(node.func) or (node.func.id if isinstance(node.func, ast.Name) else None)
            if func in ("importlib.import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                return str(node.args[0].value)
            if func == "getattr" and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                base = self.qualify(node.args[0])
                return f"{base}.{node.args[1].value}" if base else None
        return None

    def _flag(self, node: ast.AST, what: str) -> None:
        self.found.append(Violation(self.file, getattr(node, "lineno", 0), what))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.qualify(node)
        if name and _is_banned(name):
            self._flag(node, name)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        name = self.qualify(node)
        if name and _is_banned(name):
            self._flag(node, f"{node.id} (= {name})")

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualify(node.func)
        if isinstance(node.func, ast.Call) and name and _is_banned(name):  # getattr(pickle, "loads")(...)
            self._flag(node, name)
        for kw in node.keywords:
            if kw.arg == "weights_only" and not (isinstance(kw.value, ast.Constant) and kw.value.value is True):
                self._flag(node, f"weights_only={ast.unparse(kw.value)}")
            if kw.arg == "use_safetensors":
                continue
            if name in NUMPY_LOAD and kw.arg == "allow_pickle":
                if not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    self._flag(node, f"{name}(..., allow_pickle={ast.unparse(kw.value)})")
        if isinstance(node.func, ast.Attribute) and node.func.attr == "from_pretrained":
            owner = ast.unparse(node.func.value)
            safe = any(kw.arg == "gguf_file" or (kw.arg == "use_safetensors" and isinstance(kw.value, ast.Constant)
                                                  and kw.value.value is True) for kw in node.keywords)
            if not safe and not any(word in owner for word in NO_WEIGHTS):
                self._flag(node, f"{owner}.from_pretrained without use_safetensors=True")
        self.generic_visit(node)


def _is_banned(name: str) -> bool:
    return name in BANNED


def scan_source(source: str, file: str = "<snippet>") -> list[Violation]:
    return _Scanner(file, ast.parse(source)).found


# ---- the scanner catches what it must, and only that ---------------------------------------------
MUST_FLAG = {
    "alias-loads": "import pickle as p\np.loads(b'')",
    "from-import-alias": "from pickle import loads as l\nl(b'')",
    "pickle-load": "import pickle\nwith open('x', 'rb') as f:\n    pickle.load(f)",
    "unpickler-subclass": "import pickle\nclass U(pickle.Unpickler):\n    pass",
    "c-pickle": "import _pickle\n_pickle.loads(b'')",
    "torch-load": "import torch\ntorch.load('x.pt')",
    "torch-load-weights-only": "import torch as t\nt.load('x.pt', weights_only=True)",
    "from-torch-import-load": "from torch import load\nload('x.pt')",
    "torch-serialization": "import torch.serialization as ts\nts.load('x.pt')",
    "torch-dotted-import": "import torch.serialization\ntorch.serialization.load('x.pt')",
    "numpy-allow-pickle": "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
    "numpy-from-import": "from numpy import load\nload('x.npy', allow_pickle=flag)",
    "joblib": "import joblib\njoblib.load('x.joblib')",
    "joblib-alias": "from joblib import load as jl\njl('x.joblib')",
    "weights-only-false": "model = Auto.from_pretrained('m', weights_only=False)",
    "weights-only-variable": "import transformers\ntransformers.x(weights_only=unsafe)",
    "assigned-alias": "import pickle\nf = pickle.loads\nf(b'')",
    "alias-of-module": "import pickle\nq = pickle\nq.loads(b'')",
    "getattr": "import pickle\ngetattr(pickle, 'loads')(b'')",
    "import-module": "import importlib\nimportlib.import_module('pickle').loads(b'')",
    "dunder-import": "__import__('pickle').loads(b'')",
    "inside-function": "def f():\n    import pickle as q\n    return q.load(open('x', 'rb'))",
    "passed-as-callback": "import torch\nread(loader=torch.load)",
    "dill": "import dill\ndill.loads(b'')",
    "pandas": "import pandas as pd\npd.read_pickle('x.pkl')",
    "star-import": "from pickle import *",
    "from-pretrained-bin-fallback": "from transformers import AutoModel\nAutoModel.from_pretrained('m')",
    "from-pretrained-safetensors-off": "AutoModelForCausalLM.from_pretrained('m', use_safetensors=False)",
}
MUST_NOT_FLAG = {
    "pickle-dumps": "import pickle\npickle.dumps(1)",
    "numpy-default": "import numpy as np\nnp.load('x.npy')\nnp.load('y.npy', allow_pickle=False)",
    "safetensors": "from safetensors.torch import load_file, load\nload_file('x')\nload(b'')",
    "json": "import json\njson.loads('1')\njson.load(open('x'))",
    "local-load": "def load(x):\n    return x\nload(1)",
    "method-on-object": "obj.load('x')\nstate.loads(b'')",
    "string-and-comment": "# torch.load('x')\ntext = 'pickle.loads(data) weights_only=False'",
    "weights-only-true": "import transformers\ntransformers.x(weights_only=True)",
    "torch-save": "import torch\ntorch.save({}, 'x')",
    "from-pretrained-safetensors": "AutoModelForCausalLM.from_pretrained('m', dtype=d, use_safetensors=True)",
    "gguf": "AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)",
    "tokenizer-and-config": "AutoTokenizer.from_pretrained('m')\nAutoConfig.from_pretrained('m')",
}


@pytest.mark.parametrize("source", MUST_FLAG.values(), ids=MUST_FLAG.keys())
def test_the_scanner_catches_unsafe_loading(source):
    assert scan_source(source), f"not flagged:\n{source}"


@pytest.mark.parametrize("source", MUST_NOT_FLAG.values(), ids=MUST_NOT_FLAG.keys())
def test_the_scanner_leaves_safe_code_alone(source):
    assert scan_source(source) == []


def test_no_code_path_under_the_package_or_integrations_unpickles():
    files = sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py") if ".egg-info" not in str(p))
    assert len(files) > 20 and any("integrations" in str(p) for p in files)  # the scan sees the code
    found = [v for p in files for v in scan_source(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    allowed = [v for v in found if v.what in AUDITED.get(v.file, ())]
    found = [v for v in found if v not in allowed]
    assert not found, "unsafe loading:\n" + "\n".join(map(str, found))
    assert {(v.file, v.what) for v in allowed} == {(f, w) for f, names in AUDITED.items() for w in names}
    print(f"\nsafe loading: {len(files)} files scanned, nothing unpickles but the audited {sorted(AUDITED)}")


def test_the_audited_exception_covers_nothing_else():
    audited = (ROOT / "lora_memory" / "safe_unpickle.py").read_text(encoding="utf-8")
    flagged = {v.what for v in scan_source(audited)}
    assert flagged == {"pickle.Unpickler"}
    # the same file with one more unpickling call is no longer clean
    assert {v.what for v in scan_source(audited + "\nimport torch\ntorch.load('x')\n")} - flagged


# ---- at run time -------------------------------------------------------------------------------
@pytest.fixture
def no_unpickling(monkeypatch):
    """Make every unpickling entry point record its caller and raise."""
    calls: list[str] = []

    def forbid(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called: something unpickles")

        return refuse

    for module, attr in [
        (pickle, "load"),
        (pickle, "loads"),
        (pickle, "Unpickler"),
        (torch, "load"),
        (torch.serialization, "load"),
        (torch.jit, "load"),
    ]:
        monkeypatch.setattr(module, attr, forbid(f"{module.__name__}.{attr}"))
    for module_name, attrs in [("numpy", ["load"]), ("joblib", ["load"])]:
        module = pytest.importorskip(module_name)
        for attr in attrs:
            monkeypatch.setattr(module, attr, forbid(f"{module_name}.{attr}"))
    yield calls
    assert not calls, f"unpickling entry points were called (and their errors swallowed): {calls}"


def test_everything_loads_with_unpickling_disabled(no_unpickling, tmp_path, tiny_model_dir):
    for module, name in ((pickle, "loads"), (torch, "load")):  # the guard is armed: the stubs refuse
        with pytest.raises(AssertionError):
            getattr(module, name)(b"")
    no_unpickling.clear()

    # a saved Hugging Face directory loads (safetensors weights)
    loaded = Backbone.load(tiny_model_dir, device="cpu")
    assert loaded.num_layers == 4

    lively = lively_backbone()
    net = lively_doc2lora(lively)
    d2l_path = save_checkpoint(tmp_path / "doc2lora.safetensors", net)
    d2l = load_checkpoint(d2l_path, lively, kind="doc2lora")
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), d2l.state_dict().values(), strict=True))

    t2l = fresh("text2lora", lively, encoder="backbone")
    t2l_path = save_checkpoint(tmp_path / "text2lora.safetensors", t2l)
    task = TaskAdapter("Reply with one word.", backbone=lively, text2lora=load_checkpoint(t2l_path, lively), max_new_tokens=4)
    assert isinstance(task("The film was great."), str)

    adapter = random_adapter(lively, modules=("q_proj", "down_proj"), rank=3, scale=0.5)
    back = import_peft(export_peft(adapter, lively, tmp_path / "peft", pad_for_vllm=True), lively)
    for m in adapter.modules:
        for layer in adapter.layers:
            torch.testing.assert_close(back.delta_weight(m, layer), adapter.delta_weight(m, layer))
    save_adapter(tmp_path / "a.safetensors", adapter, lively.identity)
    assert torch.equal(load_adapter(tmp_path / "a.safetensors", lively.identity).A["q_proj"], adapter.A["q_proj"])

    store = tmp_path / "store"
    with ParametricMemory(store, backbone=lively, checkpoint=str(d2l_path), encoder=HashEncoder(), max_new_tokens=6) as memory:
        memory.add_documents(DOCS[:3], ids=NAMES[:3], progress=False)
        before = [memory.ask(question(n)) for n in NAMES[:3]]
    with ParametricMemory(store, backbone=lively, checkpoint=str(d2l_path), encoder=HashEncoder(), max_new_tokens=6) as memory:
        assert memory.ids() == NAMES[:3]
        assert [memory.ask(question(n)) for n in NAMES[:3]] == before
        assert "".join(memory.stream(question(NAMES[0]))) == before[0].answer


def test_a_model_directory_with_pickled_weights_is_refused_without_unpickling(no_unpickling, tmp_path, tiny_model_dir):
    import shutil

    from lora_memory import BackboneError

    folder = tmp_path / "bin-model"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").unlink()
    # the bytes need not be a real pickle: any attempt to unpickle them trips the guard
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04\x95 pickled weights, in name only " * 20)
    with pytest.raises(BackboneError, match="safetensors"):
        Backbone.load(folder, device="cpu")


def test_a_pickle_file_disguised_as_a_checkpoint_is_refused_without_unpickling(no_unpickling, tmp_path, backbone):
    from lora_memory import CheckpointError

    (tmp_path / "net.safetensors").write_bytes(b"\x80\x04\x95 a pickle, in name only " * 20)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "net.safetensors", backbone)
