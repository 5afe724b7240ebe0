"""PEFT export: peft.PeftModel gives our logits; import round-trips; bad folders are named."""

import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from lora_memory import AdapterBatch, AdapterFormatError, BaseModelMismatchError, export_peft, import_peft
from lora_memory.peft_io import serving_rank
from tests.conftest import make_tiny_backbone, random_adapter

CASES = {
    "down_proj_upper_layers": dict(modules=("down_proj",), layers=(2, 3), rank=5, scale=2.5),
    "q_v_all_layers": dict(modules=("q_proj", "v_proj"), rank=8, scale=16 / 8**0.5),
}


def _ids(backbone):
    return backbone.pad([backbone.chat_prompt("What is the special magic number?")])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("pad_for_vllm", [False, True])
def test_peft_model_matches_our_application(backbone, tiny_model_dir, tmp_path, case, pad_for_vllm):
    adapter = random_adapter(backbone, seed=7, **CASES[case])
    folder = export_peft(adapter, backbone, tmp_path / "adapter", pad_for_vllm=pad_for_vllm)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == (8 if pad_for_vllm else adapter.rank())
    ids, mask = _ids(backbone)
    ours = backbone.forward_logits(ids, mask, AdapterBatch.stack([adapter]))
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, folder).eval()
    with torch.no_grad():
        theirs = peft_model(input_ids=ids, attention_mask=mask).logits
    assert (ours - theirs).abs().max().item() < 1e-4
    assert (ours - backbone.forward_logits(ids, mask)).abs().max().item() > 1e-2  # the adapter did something


def test_round_trip_gives_same_update(backbone, tmp_path):
    adapter = random_adapter(backbone, modules=("q_proj", "v_proj", "down_proj"), layers=(0, 3), rank=3, scale=0.3)
    back = import_peft(export_peft(adapter, backbone, tmp_path / "a", pad_for_vllm=True), backbone)
    assert back.layers == adapter.layers and back.modules == adapter.modules and back.rank() == 8
    for m in adapter.modules:
        for layer in adapter.layers:
            torch.testing.assert_close(back.delta_weight(m, layer), adapter.delta_weight(m, layer))


def test_serving_ranks():
    assert [serving_rank(r) for r in (1, 8, 9, 300, 321, 512)] == [8, 8, 16, 320, 512, 512]
    with pytest.raises(AdapterFormatError):
        serving_rank(513)


def test_folder_errors_are_named(backbone, tmp_path):
    folder = export_peft(random_adapter(backbone), backbone, tmp_path / "a")
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(AdapterFormatError, match="truncated or corrupt"):
        import_peft(folder, backbone)
    (folder / "adapter_config.json").unlink()
    with pytest.raises(AdapterFormatError, match="adapter_config.json is missing"):
        import_peft(folder, backbone)


def test_adapter_for_another_model_is_refused(backbone, tmp_path):
    other = make_tiny_backbone(name="wider-llama", hidden=48)
    folder = export_peft(random_adapter(other), other, tmp_path / "a")
    with pytest.raises(BaseModelMismatchError, match="wider-llama.*tiny-llama"):
        import_peft(folder, backbone)
    (folder / "lora_memory.json").unlink()  # a foreign PEFT folder: shapes are still checked
    with pytest.raises(AdapterFormatError, match="needs A"):
        import_peft(folder, backbone)
