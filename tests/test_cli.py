"""The CLI end to end on the tiny model: internalize -> PEFT folder -> ask; adapt; info; errors."""

import json

import pytest

from lora_memory.cli import main
from lora_memory.hypernets import fresh, save_checkpoint
from tests.conftest import make_tiny_backbone


def test_internalize_then_ask(tiny_model_dir, tmp_path, capsys):
    doc = tmp_path / "doc.txt"
    doc.write_text("The special magic number is 4821. The grass is green. " * 20)
    out = tmp_path / "adapter"
    args = ["--model", str(tiny_model_dir), "--device", "cpu"]
    assert main(["internalize", str(doc), "-o", str(out), "--chunk-tokens", "64", "--pad-for-vllm", *args]) == 0
    printed = capsys.readouterr().out
    assert "wrote PEFT adapter" in printed
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] in (8, 16, 32, 64)
    assert json.loads((out / "lora_memory.json").read_text())["metadata"]["source"] == str(doc)
    assert main(["ask", str(out), "What is the special magic number?", "--max-new-tokens", "4", *args]) == 0
    assert "answered" in capsys.readouterr().out


def test_adapt_with_a_checkpoint_and_info(tiny_model_dir, tmp_path, capsys):
    backbone = make_tiny_backbone(name=str(tiny_model_dir))
    ckpt = save_checkpoint(tmp_path / "t2l.safetensors", fresh("text2lora", backbone, encoder="backbone"))
    out = tmp_path / "task"
    common = ["--model", str(tiny_model_dir), "--device", "cpu"]
    assert main(["adapt", "Reply with the number only.", "-o", str(out), "--checkpoint", str(ckpt), *common]) == 0
    assert "modules q_proj, v_proj" in capsys.readouterr().out
    assert (out / "adapter_model.safetensors").is_file()
    assert main(["info", *common]) == 0
    assert "4 layers" in capsys.readouterr().out


def test_demo_answers_through_a_memory_and_prices_it_against_the_kv_cache(tiny_model_dir, capsys):
    assert main(["demo", "--model", str(tiny_model_dir), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "segment adapters" in printed and "x the fp16 KV cache" in printed
    assert printed.count("   memory:") == 2 and printed.count("   in-context:") == 2 and "confidence" in printed


def test_errors_exit_2_with_a_message(tiny_model_dir, tmp_path, capsys):
    doc = tmp_path / "empty.txt"
    doc.write_text("   ")
    assert main(["internalize", str(doc), "-o", str(tmp_path / "x"), "--model", str(tiny_model_dir)]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["ask", str(tmp_path / "nowhere"), "q", "--model", str(tiny_model_dir)]) == 2
    assert "adapter_config.json is missing" in capsys.readouterr().err


def test_bool_config_fields_are_flag_pairs():
    from lora_memory.cli import build_parser
    from lora_memory.config import config_from_args
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig

    parser = build_parser()
    off = parser.parse_args(["train", "doc2lora", "--no-null-slot", "--rank", "8"])
    assert config_from_args(Doc2LoRATrainConfig, off).fast_weight.null_slot is False and off.rank == 8
    assert config_from_args(Doc2LoRATrainConfig, parser.parse_args(["train", "doc2lora"])).fast_weight.null_slot is True


def test_train_configs_round_trip_through_config_json_and_read_flat_older_ones():
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig
    from lora_memory.training.text2lora import Text2LoRATrainConfig

    for cls in (Doc2LoRATrainConfig, Text2LoRATrainConfig):
        config = cls()
        assert cls.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # config.json written before the network's config was nested: its fields sat at the top
    old = Doc2LoRATrainConfig.from_dict({"run_dir": "runs/x", "rank": 8, "null_slot": False, "chunk_tokens": 256})
    assert (old.fast_weight.rank, old.fast_weight.null_slot, old.perceiver.rank, old.run_dir) == (8, False, 8, "runs/x")
    assert Text2LoRATrainConfig.from_dict({"encoder": "backbone", "width": 32}).net.width == 32
    with pytest.raises(ValueError, match="has no fields"):
        Doc2LoRATrainConfig.from_dict({"no_such_field": 1})

