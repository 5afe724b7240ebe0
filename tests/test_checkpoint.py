"""Checkpoints: safetensors + JSON header round trip; wrong model and corrupt files are named."""

import json

import pytest
import torch
from safetensors.torch import save_file

from lora_memory import BaseModelMismatchError, CheckpointError, describe_task, internalize
from lora_memory.hypernets import fresh, load_checkpoint, read_header, save_checkpoint
from tests.conftest import make_tiny_backbone

DOC = "The special magic number is 4821. The grass is green. The sky is blue."
NETS = [("doc2lora", "fast_weight"), ("doc2lora", "perceiver"), ("text2lora", "mlp_l")]


def _perturbed(backbone, kind, arch):
    net = fresh(kind, backbone, arch=arch, **({"encoder": "backbone"} if kind == "text2lora" else {}))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return net


def _adapter(backbone, net):
    return internalize(backbone, net, DOC) if net.kind == "doc2lora" else describe_task(backbone, net, DOC)


@pytest.mark.parametrize("kind,arch", NETS)
def test_round_trip_rebuilds_the_same_network(backbone, tmp_path, kind, arch):
    net = _perturbed(backbone, kind, arch)
    path = save_checkpoint(tmp_path / "net.safetensors", net, card={"steps": 3})
    header = read_header(path)
    assert header["kind"] == kind and header["arch"] == arch and header["card"] == {"steps": 3}
    assert header["base_model"]["name"] == "tiny-llama"
    loaded = load_checkpoint(path, backbone)
    assert type(loaded) is type(net) and loaded.config == net.config
    a, b = _adapter(backbone, net), _adapter(backbone, loaded)
    for m in a.modules:
        torch.testing.assert_close(a.B[m], b.B[m])


def test_wrong_base_model_names_both(backbone, tmp_path):
    path = save_checkpoint(tmp_path / "net.safetensors", fresh("doc2lora", backbone))
    with pytest.raises(BaseModelMismatchError, match="'tiny-llama'.*'wider-llama'"):
        load_checkpoint(path, make_tiny_backbone(name="wider-llama", hidden=48))
    same_shapes = make_tiny_backbone(name="renamed-llama")
    with pytest.raises(BaseModelMismatchError, match="strict_name=False"):
        load_checkpoint(path, same_shapes)
    assert load_checkpoint(path, same_shapes, strict_name=False).kind == "doc2lora"


def test_corrupt_and_foreign_files_are_named(backbone, tmp_path):
    path = save_checkpoint(tmp_path / "net.safetensors", fresh("doc2lora", backbone))
    data = path.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.safetensors").write_bytes(b"\x00\x01not a safetensors file" * 10)
    save_file({"x": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    for name, problem in [
        ("truncated", "tensors do not match|truncated or corrupt"),
        ("garbage", "truncated or corrupt"),
        ("foreign", "not a lora-memory checkpoint"),
        ("missing", "does not exist"),
    ]:
        with pytest.raises(CheckpointError, match=problem):
            load_checkpoint(tmp_path / f"{name}.safetensors", backbone)


def test_kind_is_checked(backbone, tmp_path):
    path = save_checkpoint(tmp_path / "net.safetensors", fresh("doc2lora", backbone))
    with pytest.raises(CheckpointError, match="not text2lora"):
        load_checkpoint(path, backbone, kind="text2lora")


def test_header_is_plain_json(backbone, tmp_path):
    path = save_checkpoint(tmp_path / "net.safetensors", fresh("doc2lora", backbone))
    size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + size])
    assert json.loads(header["__metadata__"]["lora_memory"])["config"]["rank"] == 8


def test_ship_installs_the_checkpoint_with_its_card(backbone, tmp_path, monkeypatch):
    from lora_memory.hypernets import checkpoint

    monkeypatch.setattr(checkpoint, "SHIPPED_DIR", tmp_path / "shipped")
    net = _perturbed(backbone, "doc2lora", "fast_weight")
    made = {"config": {"steps": 7}, "step": 7, "device": "cpu (2 threads)", "train_seconds": 12.5}
    source = save_checkpoint(tmp_path / "best.safetensors", net, card=made)
    target = checkpoint.ship(source, {"facts": {"doc2lora": {"exact": 0.5}}}, "lora-memory eval doc2lora")
    assert target == checkpoint.shipped_checkpoint("doc2lora")
    card = json.loads(checkpoint.card_path("doc2lora").read_text())
    assert card["training"]["step"] == 7 and card["training"]["train_seconds"] == 12.5
    assert card["evaluation"]["facts"]["doc2lora"]["exact"] == 0.5 and card["evaluation_command"]
    loaded = checkpoint.load_default("doc2lora", backbone)
    assert not loaded.card.get("untrained") and torch.equal(_adapter(backbone, loaded).B["down_proj"],
                                                             _adapter(backbone, net).B["down_proj"])


def test_ship_merges_an_evaluation_run_in_parts(tmp_path):
    from lora_memory.cli import merged_evaluation

    grid = {"niah_by_length": {"doc2lora": {"256": 1.0, "32768": 0.9}}, "facts": {"doc2lora": {"exact": 0.2}},
            "cd": {}}
    curve = {"niah_by_length": {}, "facts": {"cd_5_steps": {"exact": 0.4}}, "cd": {"lr": 0.01}}
    rerun = {"niah_by_length": {"doc2lora": {"256": 0.5}}}
    hand = {"config": {"real_set": "handwritten"},
            "real_documents": {"memory": {"all_exact": 0.25, "records": [{"gold": "x", "prediction": "x"}]}}}
    paths = []
    for name, part in (("grid.json", grid), ("cd.json", curve), ("rerun.json", rerun), ("hand.json", hand)):
        (tmp_path / name).write_text(json.dumps(part))
        paths.append(str(tmp_path / name))
    merged = merged_evaluation(paths)
    assert merged == {"niah_by_length": {"doc2lora": {"256": 0.5, "32768": 0.9}}, "cd": {"lr": 0.01},
                      "facts": {"doc2lora": {"exact": 0.2}, "cd_5_steps": {"exact": 0.4}},
                      "real_documents_handwritten": {"memory": {"all_exact": 0.25}}}
    assert merged_evaluation([]) is None
