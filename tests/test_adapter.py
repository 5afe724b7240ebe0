"""The adapter value type: validation, rank concatenation, padding, per-sample stacking."""

import pytest
import torch

from lora_memory import AdapterBatch, AdapterFormatError, LoraAdapter, combine_adapters, concat_adapters
from lora_memory.hypernets.chunk_policy import strongest_chunks
from tests.conftest import random_adapter


def test_rejects_rank_mismatch_between_a_and_b():
    with pytest.raises(AdapterFormatError, match="rank of A"):
        LoraAdapter({"down_proj": torch.zeros(2, 4, 8)}, {"down_proj": torch.zeros(2, 6, 3)}, (0, 1))


def test_rejects_layer_count_mismatch_and_nan():
    with pytest.raises(AdapterFormatError, match="layers declared"):
        LoraAdapter({"m": torch.zeros(2, 4, 8)}, {"m": torch.zeros(2, 6, 4)}, (0,))
    with pytest.raises(AdapterFormatError, match="NaN"):
        LoraAdapter({"m": torch.full((1, 4, 8), float("nan"))}, {"m": torch.zeros(1, 6, 4)}, (0,))


def test_concat_sums_updates_and_ranks(backbone):
    parts = [random_adapter(backbone, rank=r, seed=r, scale=s) for r, s in [(2, 1.0), (3, 0.5), (5, 2.0)]]
    joined = concat_adapters(parts)
    assert joined.rank() == 2 + 3 + 5
    for layer in joined.layers:
        expected = sum(p.delta_weight("down_proj", layer) for p in parts)
        torch.testing.assert_close(joined.delta_weight("down_proj", layer), expected, rtol=1e-5, atol=1e-5)


def test_concat_keeps_common_scale(backbone):
    parts = [random_adapter(backbone, rank=2, seed=i, scale=0.25) for i in range(3)]
    assert concat_adapters(parts).scale == 0.25


def test_concat_rejects_different_targets(backbone):
    a = random_adapter(backbone, layers=(0, 1))
    b = random_adapter(backbone, layers=(2, 3))
    with pytest.raises(AdapterFormatError, match="different targets"):
        concat_adapters([a, b])
    with pytest.raises(AdapterFormatError):
        concat_adapters([])


def test_padding_rank_keeps_update(backbone):
    a = random_adapter(backbone, rank=3, scale=1.5)
    padded = a.padded_to_rank(8)
    assert padded.rank() == 8
    torch.testing.assert_close(padded.delta_weight("down_proj", 1), a.delta_weight("down_proj", 1))
    with pytest.raises(AdapterFormatError):
        a.padded_to_rank(2)


def test_stack_pads_ranks_unions_layers_and_fills_none_with_zero(backbone):
    a = random_adapter(backbone, rank=2, layers=(1, 2), scale=2.0)
    b = random_adapter(backbone, rank=5, layers=(0, 3), seed=1, modules=("down_proj", "q_proj"))
    batch = AdapterBatch.stack([a, None, b])
    assert batch.layers == (0, 1, 2, 3)
    assert batch.A["down_proj"].shape == (3, 4, 5, backbone.module_shape("down_proj")[0])
    assert torch.count_nonzero(batch.A["down_proj"][1]) == 0 and torch.count_nonzero(batch.B["q_proj"][0]) == 0
    # scale folded into B: the stacked update of sample 0 at layer 1 equals a's update
    upd = batch.B["down_proj"][0, 1] @ batch.A["down_proj"][0, 1]
    torch.testing.assert_close(upd, a.delta_weight("down_proj", 1))
    assert AdapterBatch.stack([None, None]) is None


def test_compressed_keeps_the_update_at_the_smallest_exact_rank(backbone):
    d_in, d_out = backbone.module_shape("down_proj")  # tiny model: 64 -> 32
    wide = random_adapter(backbone, modules=("down_proj", "q_proj"), rank=3 * d_out, scale=0.5, magnitude=0.1)
    small = wide.compressed()
    assert small.rank("down_proj") == min(d_in, d_out) and small.rank("q_proj") <= wide.rank("q_proj")
    for m in wide.modules:
        for layer in wide.layers:
            torch.testing.assert_close(small.delta_weight(m, layer), wide.delta_weight(m, layer), rtol=1e-4, atol=1e-5)
    narrow = random_adapter(backbone, rank=4)
    assert narrow.compressed() is narrow


def test_strongest_chunks_keeps_the_loudest_chunks_in_document_order(backbone):
    chunks = [random_adapter(backbone, rank=2, seed=s, magnitude=m) for s, m in enumerate((0.5, 0.1, 2.0, 0.1, 0.1))]
    doc = concat_adapters(chunks)
    kept = strongest_chunks(doc, chunk_rank=2, keep=2)
    assert kept.metadata["chunks_kept"] == [0, 2] and kept.rank() == 4
    expected = concat_adapters([chunks[0], chunks[2]])
    for layer in doc.layers:
        torch.testing.assert_close(kept.delta_weight("down_proj", layer), expected.delta_weight("down_proj", layer))
    assert strongest_chunks(doc, chunk_rank=2, keep=5) is doc  # no more chunks than asked for: unchanged


def test_refactoring_below_full_rank_is_exact(backbone):
    low = random_adapter(backbone, modules=("down_proj", "q_proj"), rank=6, scale=0.5, magnitude=0.1)
    refactored = low.refactored()  # the QR-core path: rank 6 < min(d_in, d_out)
    assert refactored.rank("down_proj") == 6 and refactored.scale == 1.0
    for m in low.modules:
        for layer in low.layers:
            torch.testing.assert_close(refactored.delta_weight(m, layer), low.delta_weight(m, layer), rtol=1e-4, atol=1e-5)


def test_combine_joins_different_targets_exactly(backbone):
    task = random_adapter(backbone, rank=2, layers=(1, 3), modules=("q_proj", "v_proj"), scale=2.0)
    doc = random_adapter(backbone, rank=3, layers=(0, 1), seed=1, modules=("down_proj", "v_proj"))
    joined = combine_adapters([task, doc])
    assert joined.layers == (1, 3, 0) and joined.modules == ("down_proj", "q_proj", "v_proj")
    assert joined.rank("v_proj") == 2 + 3 and joined.rank("q_proj") == 2
    for m in joined.modules:
        for layer in joined.layers:
            got = joined.delta_weight(m, layer)
            parts = [a.delta_weight(m, layer) for a in (task, doc) if m in a.A and layer in a.layers]
            torch.testing.assert_close(got, sum(parts, torch.zeros_like(got)), rtol=1e-5, atol=1e-5)
    other = LoraAdapter(doc.A, doc.B, doc.layers, base_model="another-model")
    with pytest.raises(AdapterFormatError, match="different base models"):
        combine_adapters([task, other])
