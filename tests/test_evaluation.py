"""Evaluation: scoring rules, and the NIAH / fact-QA run end to end on the tiny model."""

import json

import torch

from lora_memory.context_distill import context_distill
from lora_memory.evaluation.doc2lora_eval import Doc2LoRAEvalConfig, evaluate_doc2lora
from lora_memory.evaluation.qa import exact_match, token_f1
from lora_memory.hypernets import fresh
from lora_memory.testing import random_adapter
from lora_memory.training.data import QA


def test_scoring():
    assert exact_match("The special magic number is 4821.", "4821")
    assert not exact_match("The special magic number is 48210.", "4821")
    assert exact_match("It is made in Port Velmora!", "port velmora") and not exact_match("", "x")
    assert token_f1("Port Velmora", "Port Velmora") == 1.0 and token_f1("Velmora", "Port Velmora") == 2 / 3
    assert token_f1("nothing", "Port Velmora") == 0.0


def test_eval_writes_results_and_figures(backbone, tmp_path):
    config = Doc2LoRAEvalConfig(out=str(tmp_path / "ev"), lengths="48,96", depths=2, facts=2, cd_steps=2, device="cpu")
    results = evaluate_doc2lora(config, backbone, fresh("doc2lora", backbone, chunk_tokens=32))
    assert {r["method"] for r in results["niah"]} == {"doc2lora", "doc2lora_int8", "in_context", "no_context"}
    assert len(results["niah"]) == 4 * 2 * 2
    assert set(results["niah_by_length"]["doc2lora"]) == {"48", "96"}
    assert set(results["facts"]) == {"doc2lora", "doc2lora_int8", "in_context", "no_context", "cd_2_steps", "cd_equal_time"}
    assert results["cd"]["cd_2_steps"]["steps"] == 2 and results["cd"]["cd_equal_time"]["steps"] >= 1
    assert results["cd"]["cd_2_steps"]["seconds_per_document"] > 0 and results["cd"]["doc2lora_seconds_per_document"] > 0
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["machine"]["torch"] and saved["config"]["depths"] == 2
    assert (tmp_path / "ev" / "niah.png").stat().st_size > 1000 and (tmp_path / "ev" / "facts.png").stat().st_size > 1000


def test_context_distillation_trains_an_adapter_of_the_requested_shape(backbone):
    like = random_adapter(backbone, layers=(2, 3), rank=3)
    qas = [QA("what colour?", "blue green"), QA("which town?", "port lake")]
    adapter, info = context_distill(backbone, like, "the sky is blue green. the town is port lake.", qas, steps=15, lr=1e-2)
    assert adapter.layers == like.layers and adapter.A["down_proj"].shape == like.A["down_proj"].shape
    assert adapter.B["down_proj"].shape == like.B["down_proj"].shape and adapter.B["down_proj"].abs().sum() > 0
    assert info["loss_last"] < info["loss_first"]  # the student moved towards the teacher
    assert torch.isfinite(adapter.A["down_proj"]).all() and info["seconds_per_step"] > 0
