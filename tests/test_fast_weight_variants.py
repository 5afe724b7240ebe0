"""The fast-weight network's capacity options: ``mixer_layers`` and ``query_groups``.

Invariants first: at their defaults nothing changes (not even an old checkpoint's adapters), and
either option warm-started from a checkpoint without it writes that checkpoint's adapters.
"""

import json
import random

import pytest
import torch
from safetensors.torch import load_file, save_file

from lora_memory.data.synthetic import QA, DocSample
from lora_memory.hypernets import encode_chunks, fresh
from lora_memory.hypernets.checkpoint import HEADER_KEY, load_checkpoint, read_header, save_checkpoint
from lora_memory.hypernets.doc2lora import chunk_adapters
from lora_memory.training.doc2lora import Doc2LoRATrainConfig, doc2lora_loss, warm_start

DOC = "Ada Quill lives in Port Verin and works as a glassblower; her cat is called Miso. " * 4
TRAINED = dict(rank=4, null_slot=True, surprise_rows=3, surprise_nats=0.5, b_scale_init=0.5)


def _features(backbone, net):
    ids = backbone.tokenize(DOC)
    return encode_chunks(backbone, net, [ids[:40], ids[40:47], ids[47:48]])  # mixed lengths, one token alone


def _adapters(backbone, net):
    with torch.no_grad():
        out = net(_features(backbone, net))
    return out.A["down_proj"], out.B["down_proj"]


def _stir(net):
    """Move every weight a little, as training would: the options' init alone could hide a bug."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


def test_a_checkpoint_saved_without_the_options_loads_to_the_same_adapters(backbone, tmp_path):
    net = _stir(fresh("doc2lora", backbone, **TRAINED))
    path = save_checkpoint(tmp_path / "old.safetensors", net)
    header = read_header(path)
    for name in ("mixer_layers", "query_groups"):
        del header["config"][name]  # as written before the options existed
    save_file(load_file(path), path, metadata={HEADER_KEY: json.dumps(header)})
    loaded = load_checkpoint(path, backbone)
    assert (loaded.config.mixer_layers, loaded.config.query_groups) == (0, 1)
    for old, new in zip(_adapters(backbone, net), _adapters(backbone, loaded)):
        assert torch.equal(old, new)


def test_the_shipped_checkpoint_builds_no_new_parameters():
    from lora_memory.backbone import BaseModelIdentity
    from lora_memory.hypernets.checkpoint import ARCHITECTURES, _tensor_shapes, shipped_checkpoint

    path = shipped_checkpoint("doc2lora")
    if path is None:
        pytest.skip("no shipped Doc-to-LoRA checkpoint")
    header = read_header(path)
    cls = ARCHITECTURES[header["arch"]]
    with torch.device("meta"):
        net = cls(cls.config_class.from_dict(header["config"]), BaseModelIdentity.from_dict(header["base_model"]))
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == _tensor_shapes(path)


@pytest.mark.parametrize("option", [dict(mixer_layers=2), dict(query_groups=2), dict(mixer_layers=1, query_groups=2)])
def test_warm_start_from_a_checkpoint_without_the_option_is_exact(backbone, tmp_path, option):
    old = _stir(fresh("doc2lora", backbone, **TRAINED))
    new = fresh("doc2lora", backbone, seed=1, **TRAINED, **option)
    warm_start(new, str(save_checkpoint(tmp_path / "old.safetensors", old)))
    for a, b in zip(_adapters(backbone, old), _adapters(backbone, new)):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
    # a fresh network with the option is the fresh network without it, from the same seed
    for a, b in zip(_adapters(backbone, fresh("doc2lora", backbone, **TRAINED)),
                    _adapters(backbone, fresh("doc2lora", backbone, **TRAINED, **option))):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


def test_warm_start_copies_the_one_query_set_into_every_group(backbone, tmp_path):
    old = _stir(fresh("doc2lora", backbone, **TRAINED))
    new = fresh("doc2lora", backbone, seed=1, query_groups=2, **TRAINED)
    warm_start(new, str(save_checkpoint(tmp_path / "old.safetensors", old)))
    assert torch.equal(new.queries, old.queries.repeat(2, 1)) and torch.equal(new.null_score, old.null_score.repeat(2))
    # a grouped checkpoint reads back as it is (no copying)
    _stir(new)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "grouped.safetensors", new), backbone)
    for a, b in zip(_adapters(backbone, new), _adapters(backbone, loaded)):
        assert torch.equal(a, b)


def test_each_layer_group_writes_with_its_own_queries(backbone):
    net = _stir(fresh("doc2lora", backbone, query_groups=2, **TRAINED))
    assert net.layer_groups == (0, 1)  # the tiny model adapts two layers
    features = _features(backbone, net)
    w = net.attention(features).unflatten(1, (2, -1))  # (chunks, groups, rank + surprise, tokens)
    assert w.shape == (3, 2, 4 + 3, 40)
    assert torch.equal(w[:, 0, 4:], w[:, 1, 4:]) and torch.equal(w[:, 0, 4:], net.surprise_selection(features))
    assert not torch.allclose(w[:, 0, :4], w[:, 1, :4])  # the groups select different tokens
    before = _adapters(backbone, net)
    with torch.no_grad():
        net.queries[4:].normal_()  # group 1's queries only
    after = _adapters(backbone, net)
    for old, new in zip(before, after):
        assert torch.equal(old[:, 0], new[:, 0]) and not torch.allclose(old[:, 1], new[:, 1])
    d_in = backbone.module_shape("down_proj")[0]
    assert net.route_logits(torch.randn(2, 30, d_in), torch.randn(5, 2, d_in), 0.05).shape == (5, 30)


def test_the_mixer_reads_real_tokens_only(backbone):
    """Padding never changes an adapter: chunks grouped by length equal one padded batch."""
    net = _stir(fresh("doc2lora", backbone, mixer_layers=1, query_groups=2, **TRAINED))
    ids = backbone.tokenize(DOC)
    chunks = [ids[:5], ids[5:60], ids[60:61], ids[61:70]]
    one = net(encode_chunks(backbone, net, chunks))
    grouped = chunk_adapters(backbone, net, chunks, group=1)
    for m in one.A:
        torch.testing.assert_close(grouped.A[m], one.A[m], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grouped.B[m], one.B[m], rtol=1e-4, atol=1e-5)
    assert torch.isfinite(one.A["down_proj"]).all() and torch.count_nonzero(one.B["down_proj"][2]) == 0
    features = encode_chunks(backbone, net, chunks)
    without = fresh("doc2lora", backbone, query_groups=2, **TRAINED)
    without.load_state_dict(net.state_dict(), strict=False)
    assert not torch.allclose(net.query_attention(features), without.query_attention(features))  # the mixer matters


def test_gradients_reach_the_mixer_and_every_query_group(backbone):
    docs = [DocSample("Ada Quill lives in Port Verin. Her cat is called Miso. The sky is blue.",
                      (QA("Where does Ada Quill live?", "Port Verin"),), "facts")]
    net = fresh("doc2lora", backbone, mixer_layers=1, query_groups=2, **TRAINED).train().requires_grad_(True)

    def backward() -> None:
        net.zero_grad()
        doc2lora_loss(backbone, net, docs, random.Random(0), Doc2LoRATrainConfig(device="cpu"))[0].backward()

    backward()
    block = net.mixer[0]
    # at step 0 only the zeroed output projections learn; the blocks' insides follow once they moved
    assert block.attn.out_proj.weight.grad.abs().sum() > 0 and block.ff.out.weight.grad.abs().sum() > 0
    assert all(net.queries.grad[g * 4 : (g + 1) * 4].abs().sum() > 0 for g in range(2))
    _stir(net)
    backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.mixer.parameters())


def test_the_options_are_train_flags(backbone):
    from lora_memory.cli import build_parser
    from lora_memory.config import config_from_args

    args = build_parser().parse_args(["train", "doc2lora", "--mixer-layers", "1", "--query-groups", "3"])
    network = config_from_args(Doc2LoRATrainConfig, args).fast_weight
    assert (network.mixer_layers, network.query_groups) == (1, 3)
    with pytest.raises(ValueError, match="query_groups"):
        fresh("doc2lora", backbone, query_groups=3)  # the tiny model adapts two layers
