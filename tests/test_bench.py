"""`lora-memory bench` end to end on the tiny backbone: every section, ratios, targets, files.

No timing assertions: the bench reports timings, it never fails on them.
"""

import json
import time

import pytest
import torch

from lora_memory.adapter_io import roundtrip, stored_nbytes
from lora_memory.bench import SECTIONS, BenchConfig, run_bench
from lora_memory.bench.timing import PeakMemory, measure
from lora_memory.cli import build_parser
from lora_memory.config import config_from_args
from lora_memory.hypernets import fresh
from lora_memory.hypernets.encoders import BackboneEncoder
from tests.conftest import random_adapter


@pytest.fixture(scope="module")
def results(backbone, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    # 600 tokens > the tiny window (512): in-context truncates, prefill splits, CD is skipped
    config = BenchConfig(out=str(out), lengths="40,600", repeats=1, warmup=0, new_tokens=2, cd_steps=2,
                         rag_k=2, rag_chunk_tokens=32, batch=2, t2l_new_tokens=2, device="cpu")
    d2l = fresh("doc2lora", backbone, chunk_tokens=32)
    t2l = fresh("text2lora", backbone, encoder="backbone")
    return run_bench(config, backbone, d2l, t2l, encoder=BackboneEncoder(backbone)), out


def test_every_section_and_the_machine_are_recorded(results):
    res, out = results
    saved = json.loads((out / "results.json").read_text())
    assert set(SECTIONS) <= set(saved)
    for key in ("platform", "cpu_count", "torch", "transformers", "device", "threads"):
        assert saved["machine"][key] is not None
    assert saved["config"]["lengths"] == "40,600"
    assert [r["length"] for r in saved["update"]["rows"]] == [40, 600]


def test_ratios_are_computed(results):
    res, _ = results
    short, long_ = res["update"]["rows"]
    assert short["ratios"]["cd_over_d2l"] > 0 and short["ratios"]["d2l_over_prefill"] > 0
    assert short["cd"]["steps"] == 2 and short["cd"]["trainable_parameters"] > 0
    assert "skipped" in long_["cd"] and long_["ratios"]["cd_over_d2l"] is None
    assert long_["prefill"]["pieces"] == 2 and long_["d2l"]["chunks"] > 1
    for row in res["query"]["rows"]:
        assert set(res["query"]["methods"]) <= set(row)
        assert all(row[m]["new_tokens"] == 2 for m in res["query"]["methods"])
        assert row["ratios"]["in_context_over_d2l"]["full"] > 0
    ic = res["query"]["rows"][1]["in_context"]
    assert ic["truncated"] and ic["prompt_tokens"] <= 512 - 2
    state = res["state"]["rows"][1]
    sizes = state["adapter_bytes"]
    assert sizes["fp32"] == 2 * sizes["fp16"] > sizes["int8_rows"]
    assert state["kv_over_adapter"]["fp16"] > 0
    assert res["state"]["quality"]["adapter_is_zero"] and "synthetic" in res["state"]["quality"]
    assert res["batch"]["ratios"]["batched_over_one_by_one"] > 0
    assert res["t2l"]["ratios"]["tokens_three_shot_over_t2l"] > 1
    assert {t["status"] for t in res["targets"]} <= {"pass", "miss", "not measured"}
    assert len(res["targets"]) == 7


def test_plots_and_summary_exist(results):
    _, out = results
    for name in ("update_latency.png", "query_latency.png", "state_size.png"):
        assert (out / name).stat().st_size > 1000
    summary = (out / "summary.md").read_text()
    for heading in ("## Targets", "## Update latency", "## Query latency", "## State size",
                    "## Batched multi-adapter serving", "## Text-to-LoRA vs 3-shot"):
        assert heading in summary


def test_int8_rows_roundtrip(backbone):
    adapter = random_adapter(backbone, rank=6)
    back = roundtrip(adapter, "int8")
    assert stored_nbytes(adapter, "int8") < adapter.nbytes / 3
    for m in adapter.modules:
        assert torch.allclose(back.A[m], adapter.A[m], atol=adapter.A[m].abs().max().item() / 100)
        assert torch.allclose(back.B[m], adapter.B[m], atol=adapter.B[m].abs().max().item() / 100)


def test_peak_memory_sees_a_cpu_allocation():
    def hold():
        x = torch.ones(16 * 1024 * 1024)  # 64 MB
        time.sleep(0.05)
        return x.sum()

    with PeakMemory("cpu") as peak:
        hold()
    assert peak.peak_bytes >= 32 * 1024 * 1024
    m, _ = measure(lambda: None, device="cpu", repeats=3, warmup=1, memory=False)
    assert len(m.samples_s) == 3 and m.to_dict()["median_s"] >= 0


def test_cli_flags_build_the_config():
    args = build_parser().parse_args(["bench", "--lengths", "256,1024", "--repeats", "1", "--cd-steps", "7",
                                      "--sections", "update,state"])
    config = config_from_args(BenchConfig, args)
    assert config.length_list() == [256, 1024] and config.repeats == 1 and config.cd_steps == 7
    assert config.section_list() == ["update", "state"] and args.func.__name__ == "cmd_bench"
