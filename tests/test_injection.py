"""Applying adapters: equals merged weights, per-sample batches equal solo runs, no cross-talk."""

import copy
import dataclasses
import threading

import pytest
import torch

from lora_memory import AdapterBatch, LoraAdapter, generate
from lora_memory.errors import AdapterFormatError
from lora_memory.generation import generate_ids
from lora_memory.injection import Capture, capturing
from tests.conftest import random_adapter

PROMPTS = ["What is the special magic number?", "Ada Quill lives in Port Verin.", "The sky is blue. The grass"]


def _ids(backbone, text):
    return backbone.tokenize(text)


def test_zero_b_leaves_logits_exactly_unchanged(backbone):
    ids, mask = backbone.pad([_ids(backbone, PROMPTS[0])])
    a = random_adapter(backbone, modules=("down_proj", "q_proj", "v_proj"))
    zero_b = LoraAdapter(a.A, {k: torch.zeros_like(v) for k, v in a.B.items()}, a.layers)
    assert torch.equal(backbone.forward_logits(ids, mask), backbone.forward_logits(ids, mask, AdapterBatch.stack([zero_b])))


def test_applied_adapter_equals_merged_weights(backbone):
    a = random_adapter(backbone, modules=("down_proj", "v_proj"), layers=(1, 3), scale=0.7)
    ids, mask = backbone.pad([_ids(backbone, PROMPTS[1])])
    merged = copy.deepcopy(backbone.model)
    blocks = merged.model.layers
    with torch.no_grad():
        for layer in a.layers:
            blocks[layer].mlp.down_proj.weight += a.delta_weight("down_proj", layer)
            blocks[layer].self_attn.v_proj.weight += a.delta_weight("v_proj", layer)
        expected = merged(input_ids=ids, attention_mask=mask).logits
    got = backbone.forward_logits(ids, mask, AdapterBatch.stack([a]))
    assert not torch.allclose(got, backbone.forward_logits(ids, mask), atol=1e-3)  # the adapter matters
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_batch_of_per_sample_adapters_equals_each_alone(backbone):
    adapters = [random_adapter(backbone, rank=2, seed=1), None, random_adapter(backbone, rank=6, seed=2, layers=(0, 2))]
    seqs = [_ids(backbone, p) for p in PROMPTS]
    ids, mask = backbone.pad(seqs, side="right")
    batched = backbone.forward_logits(ids, mask, AdapterBatch.stack(adapters))
    for i, (seq, adapter) in enumerate(zip(seqs, adapters)):
        solo_ids, solo_mask = backbone.pad([seq])
        solo = backbone.forward_logits(solo_ids, solo_mask, AdapterBatch.stack([adapter]))
        torch.testing.assert_close(batched[i, : len(seq)], solo[0], rtol=1e-4, atol=1e-5)


def test_batched_generation_equals_solo_generation(backbone):
    adapters = [random_adapter(backbone, seed=s, magnitude=1.0) for s in range(3)]
    prompts = [backbone.chat_prompt(p) for p in PROMPTS]
    together = generate(backbone, prompts, adapters, max_new_tokens=6)
    alone = [generate(backbone, [p], [a], max_new_tokens=6)[0] for p, a in zip(prompts, adapters)]
    assert together == alone
    assert len(set(alone)) > 1 or alone != generate(backbone, prompts, None, max_new_tokens=6)


def test_generated_ids_stop_at_eos_and_decode_to_the_text_replies(backbone):
    prompts = [backbone.chat_prompt(p) for p in PROMPTS]
    adapters = [random_adapter(backbone, seed=s, magnitude=1.0) for s in range(3)]
    ids = generate_ids(backbone, prompts, adapters, max_new_tokens=8)
    eos = backbone.tokenizer.eos_token_id
    for reply in ids:
        assert 0 < len(reply) <= 8 and eos not in reply[:-1]
        assert reply[-1] == eos or len(reply) == 8
    texts = [backbone.tokenizer.decode(r, skip_special_tokens=True).strip() for r in ids]
    assert texts == generate(backbone, prompts, adapters, max_new_tokens=8)


def test_eight_threads_with_their_own_adapters_never_see_each_other(backbone):
    ids, mask = backbone.pad([_ids(backbone, PROMPTS[0])])
    adapters = [random_adapter(backbone, seed=100 + i, magnitude=1.0) for i in range(8)]
    solo = [backbone.forward_logits(ids, mask, AdapterBatch.stack([a])) for a in adapters]
    assert not torch.allclose(solo[0], solo[1])
    barrier = threading.Barrier(8)
    failures: list[str] = []

    def worker(i: int) -> None:
        barrier.wait()
        for _ in range(10):
            got = backbone.forward_logits(ids, mask, AdapterBatch.stack([adapters[i]]))
            if not torch.allclose(got, solo[i], rtol=1e-5, atol=1e-6):
                failures.append(f"thread {i}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    # after all threads, the model itself is untouched: no adapter left behind
    torch.testing.assert_close(backbone.forward_logits(ids, mask), backbone.forward_logits(ids, mask, None))


def test_capture_records_block_inputs_and_exits_early(backbone):
    ids, mask = backbone.pad([_ids(backbone, PROMPTS[2])])
    ran = []
    handle = backbone.blocks[3].register_forward_hook(lambda *_: ran.append(3))
    try:
        cap = backbone.capture(ids, mask, blocks=[0, 1], modules=[(1, "down_proj")])
        assert ran == []  # block 3 never ran: the pass stopped after block 1
        full = backbone.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    finally:
        handle.remove()
    torch.testing.assert_close(cap.block_inputs[0], full.hidden_states[0])
    torch.testing.assert_close(cap.block_inputs[1], full.hidden_states[1])
    assert cap.module_inputs[(1, "down_proj")].shape[-1] == backbone.module_shape("down_proj")[0]
    with capturing(Capture()) as empty:
        backbone.model(input_ids=ids)
    assert empty.block_inputs == {}


def test_repeats_serve_consecutive_sequences_without_copies(backbone):
    """A document's adapter serving its questions in place equals one copy per question."""
    adapters = [random_adapter(backbone, rank=3, seed=s, magnitude=1.0) for s in (4, 5)]
    seqs = [_ids(backbone, p) for p in PROMPTS]
    ids, mask = backbone.pad(seqs, side="right")
    shared = AdapterBatch.stack(adapters)
    served = dataclasses.replace(shared, repeats=(1, 2))
    copied = AdapterBatch.stack([adapters[0], adapters[1], adapters[1]])
    torch.testing.assert_close(backbone.forward_logits(ids, mask, served), backbone.forward_logits(ids, mask, copied))
    with pytest.raises(AdapterFormatError, match="repeats"):
        backbone.forward_logits(ids, mask, dataclasses.replace(shared, repeats=(2, 2)))
    # a whole multiple without repeats: each adapter serves as many consecutive sequences
    ids4, mask4 = backbone.pad(seqs + seqs[:1], side="right")
    torch.testing.assert_close(backbone.forward_logits(ids4, mask4, shared), backbone.forward_logits(
        ids4, mask4, AdapterBatch.stack([adapters[0], adapters[0], adapters[1], adapters[1]])))
