"""examples/parametric_vs_rag.ipynb: it runs top to bottom on the embedded model and prints its results.

The notebook is executed with nbclient in a kernel on this interpreter (the venv's ``python3`` kernel
spec, or one written to a temporary prefix when that spec would start another Python). The checks read
the printed output, so a notebook that errors, drops a method from its table, prints nonsense figures
or misstates the checkpoint status fails here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "parametric_vs_rag.ipynb"
METHODS = ("rag", "parametric", "no_context")
CELL_TIMEOUT_S = 900  # a shared 2-core machine can be several times slower than an idle one


def _runs_this_python(argv: list[str]) -> bool:
    # jupyter_client swaps a bare "python"/"python3"/"python3.X" for sys.executable; anything else must be it.
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    return bool(argv) and (argv[0] in bare or argv[0] == sys.executable)


@pytest.fixture
def python3_kernel(tmp_path, monkeypatch) -> str:
    """The name of a kernel spec that starts this interpreter, without touching any global Jupyter dir."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec("python3").argv
    except NoSuchKernel:
        argv = []
    if not _runs_this_python(argv):
        prefix = tmp_path / "jupyter"
        ipykernel.kernelspec.install(prefix=str(prefix), kernel_name="python3")
        monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        assert _runs_this_python(KernelSpecManager().get_kernel_spec("python3").argv)
    return "python3"


def _stdout(nb) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "stream" and out.name == "stdout"
    )


def _result_table(text: str) -> dict[str, dict[str, str]]:
    """Rows of the printed results table, ``method -> {column: cell}``."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.split()[:2] == ["method", "EM"]]
    assert len(starts) == 1, f"expected one results table header, found {len(starts)}:\n{text}"
    header = lines[starts[0]].split()
    rows = {}
    for line in lines[starts[0] + 1 :]:
        cells = line.split()
        if not cells or cells[0] not in METHODS:
            break
        assert len(cells) == len(header), f"malformed row: {line!r}"
        rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return rows


def test_notebook_is_saved_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.integration
def test_parametric_vs_rag_notebook_runs_and_reports_every_method(python3_kernel):
    from nbclient import NotebookClient

    from lora_memory.hypernets import shipped_checkpoint

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=python3_kernel,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    text = _stdout(nb)

    # One row per method, every figure in range.
    rows = _result_table(text)
    assert set(rows) == set(METHODS), f"methods in the results table: {sorted(rows)}\n{text}"
    for name, row in rows.items():
        assert 0.0 <= float(row["EM"]) <= 1.0 and 0.0 <= float(row["F1"]) <= 1.0, (name, row)
        assert float(row["median_s"]) > 0 and float(row["prompt_tok"]) > 0 and float(row["kv_query_KiB"]) > 0
    assert rows["no_context"]["hit@k"] == "-" and 0.0 <= float(rows["rag"]["hit@k"]) <= 1.0
    # Stuffing adds the chunks to the prompt; parametric memory asks the bare question.
    assert float(rows["rag"]["prompt_tok"]) > float(rows["parametric"]["prompt_tok"])
    assert rows["parametric"]["prompt_tok"] == rows["no_context"]["prompt_tok"]
    assert float(rows["rag"]["kv_query_KiB"]) > float(rows["parametric"]["kv_query_KiB"])
    # What each method keeps stored: the vector index, the adapters, nothing.
    assert float(rows["rag"]["store_KiB"]) > 0 and float(rows["parametric"]["store_KiB"]) > 0
    assert float(rows["no_context"]["store_KiB"]) == 0
    n_questions = int(re.search(r"RESULTS: (\d+) questions over (\d+) documents", text)[1])
    assert 8 <= n_questions <= 20

    # The checkpoint status is stated, and what it claims holds.
    status = re.search(r"CHECKPOINT STATUS: (.*)", text)
    assert status, text
    untrained = "UNTRAINED" in status[1]
    if shipped_checkpoint("doc2lora") is None:
        assert untrained
    if untrained:
        same = re.search(r"parametric answers identical to no-context answers: (\d+)/(\d+)", text)
        assert same and int(same[1]) == int(same[2]) == n_questions
        assert rows["parametric"]["EM"] == rows["no_context"]["EM"]

    # The four bar charts were drawn.
    images = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]
    assert len(images) == 1
