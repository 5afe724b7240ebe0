"""Both hypernetworks: fresh networks are exact no-ops, chunk adapters concatenate along rank."""

import pytest
import torch

from lora_memory import AdapterBatch, DocumentError, describe_task, internalize
from lora_memory.chunking import chunk_token_ids
from lora_memory.hypernets import encode_chunks, fresh
from lora_memory.hypernets.base import upper_half
from lora_memory.hypernets.chunk_policy import SPREAD_CHUNKS, fold_chunks, strongest_chunks
from lora_memory.hypernets.doc2lora import assemble

DOC = "Ada Quill lives in Port Verin and works as a glassblower; her cat is called Miso. " * 12
D2L_ARCHS = ["fast_weight", "perceiver"]


def _logits(backbone, adapter=None):
    ids, mask = backbone.pad([backbone.chat_prompt("Where does Ada Quill live?")])
    return backbone.forward_logits(ids, mask, AdapterBatch.stack([adapter]) if adapter else None)


@pytest.mark.parametrize("arch", D2L_ARCHS)
def test_fresh_doc2lora_adapter_leaves_logits_unchanged(backbone, arch):
    net = fresh("doc2lora", backbone, arch=arch, chunk_tokens=64)
    adapter = internalize(backbone, net, DOC)
    assert torch.equal(_logits(backbone, adapter), _logits(backbone))


@pytest.mark.parametrize("arch", D2L_ARCHS)
def test_trained_looking_doc2lora_changes_logits(backbone, arch):
    """The no-op above comes from zero-initialised B scalers, not from a dead pipeline."""
    net = fresh("doc2lora", backbone, arch=arch, chunk_tokens=64)
    with torch.no_grad():
        (net.b_scale if arch == "fast_weight" else net.b_scaler).fill_(1.0)
    adapter = internalize(backbone, net, DOC)
    assert not torch.allclose(_logits(backbone, adapter), _logits(backbone), atol=1e-4)


def test_fresh_text2lora_adapter_leaves_logits_unchanged(backbone):
    net = fresh("text2lora", backbone, encoder="backbone")
    adapter = describe_task(backbone, net, "Answer with the sentiment of the review: positive or negative.")
    assert adapter.modules == ("q_proj", "v_proj") and adapter.layers == upper_half(backbone.num_layers)
    assert torch.count_nonzero(adapter.A["q_proj"]) > 0  # A is the random LoRA init, B is zero
    assert torch.equal(_logits(backbone, adapter), _logits(backbone))
    with torch.no_grad():
        for head in net.heads.values():
            head.weight.normal_(std=0.05)
    moved = describe_task(backbone, net, "Answer with the sentiment of the review: positive or negative.")
    assert not torch.allclose(_logits(backbone, moved), _logits(backbone), atol=1e-4)


@pytest.mark.parametrize("arch,bias_rank", [("fast_weight", 0), ("perceiver", 8)])
def test_chunk_concatenation_rank_arithmetic(backbone, arch, bias_rank):
    net = fresh("doc2lora", backbone, arch=arch, chunk_tokens=40, rank=8)
    n_tokens = len(backbone.tokenize(DOC))
    adapter = internalize(backbone, net, DOC, batch_size=3, compress=False)
    chunks = -(-n_tokens // 40)
    assert adapter.metadata["chunks"] == chunks and adapter.metadata["tokens"] == n_tokens
    assert adapter.rank() == chunks * 8 + bias_rank
    cap = min(backbone.module_shape("down_proj"))
    assert internalize(backbone, net, DOC, batch_size=3).rank() == min(cap, chunks * 8 + bias_rank)


def test_chunked_internalize_equals_assembling_chunk_adapters(backbone):
    """Batching chunks for speed gives the same adapter as encoding each chunk alone."""
    net = fresh("doc2lora", backbone, arch="perceiver", chunk_tokens=50)
    with torch.no_grad():
        net.b_scaler.fill_(1.0)
    whole = internalize(backbone, net, DOC, chunk_tokens=50, batch_size=4, compress=False)
    ids = backbone.tokenize(DOC)
    singles = [net(encode_chunks(backbone, net, [c])) for c in chunk_token_ids(ids, 50, backbone.sentence_breaks)]
    merged = AdapterBatch({m: torch.cat([s.A[m] for s in singles]) for m in singles[0].A},
                          {m: torch.cat([s.B[m] for s in singles]) for m in singles[0].B}, singles[0].layers)
    one = assemble(merged, [list(range(len(singles)))], net.bias_adapter())
    torch.testing.assert_close(whole.B["down_proj"], one.B["down_proj"][0].detach(), rtol=1e-4, atol=1e-5)


def test_default_chunks_spread_over_short_documents_only():
    from lora_memory.hypernets.chunk_policy import MIN_CHUNK_TOKENS, spread_chunk_tokens

    assert spread_chunk_tokens(90, 512) == MIN_CHUNK_TOKENS  # short: cut fine, never below the floor
    assert spread_chunk_tokens(SPREAD_CHUNKS * 200, 512) == 200  # mid-length: SPREAD_CHUNKS chunks
    assert spread_chunk_tokens(SPREAD_CHUNKS * 2000, 512) == 512  # long: the longest chunk


def test_internalize_cuts_a_short_document_into_several_chunks(backbone):
    net = fresh("doc2lora", backbone, chunk_tokens=512)
    expected = chunk_token_ids(backbone.tokenize(DOC), 64, backbone.sentence_breaks)
    assert internalize(backbone, net, DOC, compress=False).metadata["chunks"] == len(expected) > 1


def test_next_token_features(backbone):
    net = fresh("doc2lora", backbone)
    feats = encode_chunks(backbone, net, [[5, 6, 7], [8, 9]])
    assert feats.next_mask.tolist() == [[1, 1, 0], [1, 0, 0]]
    torch.testing.assert_close(feats.next_embeddings[0, 0], backbone.token_embeddings(torch.tensor(6)))
    assert torch.count_nonzero(feats.next_embeddings[1, 1:]) == 0


def test_gradients_reach_the_hypernetwork(backbone):
    """One step of the training signal path: loss on the student's logits -> hypernetwork."""
    net = fresh("doc2lora", backbone).train().requires_grad_(True)
    feats = encode_chunks(backbone, net, [backbone.tokenize(DOC)[:60]])
    adapters = assemble(net(feats), [[0]], net.bias_adapter())
    ids, mask = backbone.pad([backbone.chat_prompt("Where does Ada Quill live?")])
    loss = backbone.logits(backbone.final_hidden(ids, mask, adapters)[:, -1]).logsumexp(-1).sum()
    loss.backward()
    assert net.b_scale.grad is not None and net.b_scale.grad.abs().sum() > 0


@pytest.mark.parametrize("text,problem", [("", "empty"), ("   \n\t ", "empty"), (b"bytes", "must be str")])
def test_bad_documents_are_named(backbone, text, problem):
    with pytest.raises(DocumentError, match=problem):
        internalize(backbone, fresh("doc2lora", backbone), text)


def test_oversized_document_is_refused(backbone):
    with pytest.raises(DocumentError, match="over the configured limit"):
        internalize(backbone, fresh("doc2lora", backbone), DOC, max_tokens=10)


def test_compressed_long_document_adapter_gives_the_same_logits(lively, lively_net):
    full = internalize(lively, lively_net, DOC, chunk_tokens=16, compress=False)
    small = full.compressed()
    assert full.rank() > small.rank() == min(lively.module_shape("down_proj"))
    assert not torch.allclose(_logits(lively, full), _logits(lively), atol=1e-3)  # the adapter matters
    torch.testing.assert_close(_logits(lively, small), _logits(lively, full), rtol=1e-4, atol=1e-4)


def test_folding_caps_repeated_chunks_at_one_chunks_strength(lively, lively_net):
    chunk = lively.tokenizer.decode(lively.tokenize(DOC)[:16])
    one = internalize(lively, lively_net, chunk, chunk_tokens=16)
    many = internalize(lively, lively_net, " ".join([chunk] * 6), chunk_tokens=16, compress=False)
    folded = internalize(lively, lively_net, " ".join([chunk] * 6), chunk_tokens=16)
    assert folded.rank() <= min(many.rank(), *lively.module_shape("down_proj"))
    r = one.rank()
    for i, layer in enumerate(one.layers):
        a, b = many.A["down_proj"][i], many.B["down_proj"][i]
        loudest_chunk = max(torch.linalg.matrix_norm(b[:, c : c + r] @ a[c : c + r], ord=2) for c in range(0, a.shape[0], r))
        summed = torch.linalg.matrix_norm(many.delta_weight("down_proj", layer), ord=2)
        capped = torch.linalg.matrix_norm(folded.delta_weight("down_proj", layer), ord=2)
        assert summed > 2 * loudest_chunk  # repetition made the plain concatenation louder ...
        assert capped <= loudest_chunk * 1.001  # ... folding keeps it at one chunk's strength
    assert internalize(lively, lively_net, chunk, chunk_tokens=16).rank() == one.rank()  # one chunk: unchanged


def test_chunk_adapters_by_length_groups_equal_one_padded_batch(lively, lively_net):
    from lora_memory.hypernets.doc2lora import chunk_adapters

    ids = lively.tokenize(DOC)
    chunks = [ids[:5], ids[5:60], ids[60:70], ids[70:140], ids[140:141], ids[141:150]]
    one = lively_net(encode_chunks(lively, lively_net, chunks))
    grouped = chunk_adapters(lively, lively_net, chunks, group=2)
    for m in one.A:
        torch.testing.assert_close(grouped.A[m], one.A[m], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grouped.B[m], one.B[m], rtol=1e-4, atol=1e-5)


def test_null_slot_lets_a_query_take_less_than_all_of_a_chunk(backbone):
    net = fresh("doc2lora", backbone, null_slot=True)
    feats = encode_chunks(backbone, net, [backbone.tokenize(DOC)[:30], [5]])
    w = net.attention(feats)
    assert torch.all(w[0].sum(-1) < 1) and torch.all(w[0].sum(-1) > 0.9)  # near 1 at init
    assert torch.count_nonzero(w[1]) == 0  # a one-token chunk has nothing to store
    with torch.no_grad():
        net.null_score.fill_(30.0)
        net.b_scale.fill_(1.0)
    quiet = net(feats)
    assert quiet.B["down_proj"].abs().max() < 1e-6  # all mass on "nothing here": the chunk adds nothing


def test_internalize_keeps_only_the_strongest_chunks_past_max_chunks(lively, lively_net):
    full = internalize(lively, lively_net, DOC, chunk_tokens=16, compress=False)
    chunks = full.metadata["chunks"]
    assert chunks > 2
    capped = internalize(lively, lively_net, DOC, chunk_tokens=16, max_chunks=2)
    expected = fold_chunks(strongest_chunks(full, full.rank() // chunks, 2), full.rank() // chunks)
    assert len(capped.metadata["chunks_kept"]) == 2
    for layer in full.layers:
        torch.testing.assert_close(capped.delta_weight("down_proj", layer), expected.delta_weight("down_proj", layer))
    assert "chunks_kept" not in internalize(lively, lively_net, DOC, chunk_tokens=16, max_chunks=chunks).metadata


def test_next_token_nll_is_the_cross_entropy_of_each_successor(backbone):
    ids, mask = backbone.pad([backbone.tokenize(DOC)[:20]])
    capture = backbone.capture(ids, mask, final=True)
    nll = backbone.next_token_nll(capture.final_hidden, ids)
    logits = backbone.forward_logits(ids, mask)[0, :-1]
    expected = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
    torch.testing.assert_close(nll[0, :-1], expected, rtol=1e-4, atol=1e-4)
    assert backbone.capture(ids, mask, blocks={0}).final_hidden is None  # only on request


def test_surprise_rows_select_the_most_surprising_successors(backbone):
    net = fresh("doc2lora", backbone, rank=4, surprise_rows=3, surprise_nats=1.0)
    feats = encode_chunks(backbone, net, [backbone.tokenize(DOC)[:12], backbone.tokenize(DOC)[:5]])
    nll = torch.zeros_like(feats.next_nll)
    nll[0, [2, 7]] = torch.tensor([5.0, 3.0])  # two tokens above the threshold in chunk 0 ...
    nll[0, 4] = 0.5  # ... one below it
    nll[1, 4] = 9.0  # the last real token of chunk 1: it has no successor inside the chunk
    feats.next_nll = nll
    rows = net.surprise_selection(feats)
    assert rows.shape == (2, 3, 12)
    assert rows[0, 0, 2] == 1 and rows[0, 1, 7] == 1 and rows[0].sum() == 2  # most surprising first, one-hot
    assert rows[1].sum() == 0  # nothing qualifies: the rows stay zero (a rank row that adds nothing)
    assert net.attention(feats).shape == (2, 4 + 3, 12)


def test_surprise_rows_add_rank_and_survive_a_checkpoint(backbone, tmp_path):
    from lora_memory.hypernets.checkpoint import load_checkpoint, save_checkpoint

    net = fresh("doc2lora", backbone, chunk_tokens=64, rank=4, surprise_rows=6, surprise_nats=0.0, b_scale_init=1.0)
    plain = fresh("doc2lora", backbone, chunk_tokens=64, rank=4, b_scale_init=1.0)
    assert net.state_dict().keys() == plain.state_dict().keys()  # no new weights: old checkpoints can use them
    adapter = internalize(backbone, net, DOC, compress=False)
    assert adapter.rank() == adapter.metadata["chunks"] * (4 + 6)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "s.safetensors", net), backbone)
    assert loaded.config.surprise_rows == 6
    layer = net.layers[-1]
    torch.testing.assert_close(internalize(backbone, loaded, DOC).delta_weight("down_proj", layer),
                               internalize(backbone, net, DOC).delta_weight("down_proj", layer))


def test_long_documents_get_no_surprise_rows(backbone):
    """From SPREAD_CHUNKS longest chunks on, every chunk's opening looks surprising (no earlier
    context): a network with surprise rows then writes exactly the adapter it writes without them."""
    assert len(backbone.tokenize(DOC)) >= SPREAD_CHUNKS * 32
    plain = fresh("doc2lora", backbone, chunk_tokens=32, rank=4, b_scale_init=1.0)
    net = fresh("doc2lora", backbone, chunk_tokens=32, rank=4, b_scale_init=1.0, surprise_rows=6, surprise_nats=0.0)
    long, short = internalize(backbone, net, DOC, compress=False), internalize(backbone, plain, DOC, compress=False)
    assert long.rank() == short.rank() == long.metadata["chunks"] * 4
    for layer in net.layers:
        torch.testing.assert_close(long.delta_weight("down_proj", layer), short.delta_weight("down_proj", layer))


def test_assemble_concatenates_each_documents_chunks_then_the_bias(backbone):
    """Documents with different chunk counts: each update is its chunks' updates plus the bias's."""
    net = fresh("doc2lora", backbone, rank=4, b_scale_init=0.5)
    ids = backbone.tokenize(DOC)
    chunks = net(encode_chunks(backbone, net, [ids[:30], ids[30:50], ids[50:80]]))
    bias = AdapterBatch({m: torch.randn_like(t[:1, :, :2]) for m, t in chunks.A.items()},
                        {m: torch.randn_like(t[:1, ..., :2]) for m, t in chunks.B.items()}, chunks.layers)
    docs = assemble(chunks, [[2], [0, 1, 2]], bias)

    def update(batch, i):
        return torch.einsum("lor,lri->loi", batch.B["down_proj"][i], batch.A["down_proj"][i])

    for d, group in enumerate([[2], [0, 1, 2]]):
        expected = sum(update(chunks, c) for c in group) + update(bias, 0)
        torch.testing.assert_close(update(docs, d), expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(docs.A["down_proj"][1, :, :4], chunks.A["down_proj"][0])  # chunks in order
    torch.testing.assert_close(docs.A["down_proj"][1, :, -2:], bias.A["down_proj"][0])  # then the bias
