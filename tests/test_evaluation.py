"""Evaluation: scoring rules, and the NIAH / fact-QA run end to end on the tiny model."""

import json

from lora_memory.evaluation.doc2lora_eval import Doc2LoRAEvalConfig, evaluate_doc2lora
from lora_memory.evaluation.qa import exact_match, token_f1
from lora_memory.hypernets import fresh


def test_scoring():
    assert exact_match("The special magic number is 4821.", "4821")
    assert not exact_match("The special magic number is 48210.", "4821")
    assert exact_match("It is made in Port Velmora!", "port velmora") and not exact_match("", "x")
    assert token_f1("Port Velmora", "Port Velmora") == 1.0 and token_f1("Velmora", "Port Velmora") == 2 / 3
    assert token_f1("nothing", "Port Velmora") == 0.0


def test_eval_writes_results_and_figures(backbone, tmp_path):
    config = Doc2LoRAEvalConfig(out=str(tmp_path / "ev"), lengths="48,96", depths=2, facts=2, device="cpu")
    results = evaluate_doc2lora(config, backbone, fresh("doc2lora", backbone, chunk_tokens=32))
    assert {r["method"] for r in results["niah"]} == {"doc2lora", "in_context", "no_context"}
    assert len(results["niah"]) == 3 * 2 * 2
    assert set(results["niah_by_length"]["doc2lora"]) == {"48", "96"}
    assert set(results["facts"]) == {"doc2lora", "in_context", "no_context"}
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["machine"]["torch"] and saved["config"]["depths"] == 2
    assert (tmp_path / "ev" / "niah.png").stat().st_size > 1000 and (tmp_path / "ev" / "facts.png").stat().st_size > 1000
