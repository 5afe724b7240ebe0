"""Text-to-LoRA SFT and its evaluation on the tiny model and the shipped task corpus."""

import json

import torch
from safetensors.torch import load_file

from lora_memory.data.task_corpus import Task, TaskExample, load_corpus
from lora_memory.evaluation.text2lora_eval import TASK_METHODS, correct, evaluate_method
from lora_memory.hypernets import fresh
from lora_memory.training.text2lora import Text2LoRATrainConfig, train


def _config(tmp_path, **kw):
    base = dict(run_dir=str(tmp_path / "run"), steps=2, batch_size=4, eval_every=0, save_every=1, device="cpu",
                encoder="backbone", width=32, warmup=1, max_input_tokens=48)
    return Text2LoRATrainConfig.from_dict({**base, **kw})


def test_training_moves_the_heads_in_both_modes(backbone, tmp_path):
    for mode in ("task", "multitask"):
        run = train(_config(tmp_path / mode, mode=mode), backbone=backbone)
        weights = load_file(str(run / "hypernet.safetensors"))
        assert any(torch.count_nonzero(v) for k, v in weights.items() if k.startswith("heads.") and k.endswith("weight"))
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [m["step"] for m in metrics] == [1, 2] and all(m["loss"] > 0 for m in metrics)


def test_every_method_scores_held_out_tasks(backbone):
    heldout = [t for t in load_corpus() if t.split == "heldout"][:2]
    net = fresh("text2lora", backbone, encoder="backbone", width=32)
    for method in TASK_METHODS:
        result = evaluate_method(backbone, heldout, method, net, examples=2, max_input_tokens=48, max_new_tokens=4)
        assert 0.0 <= result["summary"]["accuracy"] <= 1.0 and set(result["per_task"]) == {t.name for t in heldout}
        assert result["summary"]["tokens_per_query"] > 0


def test_three_shot_costs_more_tokens_than_text2lora(backbone):
    heldout = [t for t in load_corpus() if t.split == "heldout"][:2]
    net = fresh("text2lora", backbone, encoder="backbone", width=32)
    shots = evaluate_method(backbone, heldout, "three_shot", net, examples=2, max_new_tokens=2)["summary"]
    t2l = evaluate_method(backbone, heldout, "text2lora", net, examples=2, max_new_tokens=2)["summary"]
    assert shots["tokens_per_query"] > t2l["tokens_per_query"]


def test_scoring_is_strict_for_exact_tasks_and_exclusive_for_choices():
    exact = Task("t", "s", "l", "heldout", (), (), (), (), "exact", None)
    assert correct("a-b-c\nmore", exact, TaskExample("x", "a-b-c"))
    assert not correct("abc", exact, TaskExample("x", "a-b-c")) and not correct("", exact, TaskExample("x", "y"))
    choice = Task("t", "s", "l", "heldout", (), (), (), (), "choice", ("positive", "negative"))
    assert correct("It is positive.", choice, TaskExample("x", "positive"))
    assert not correct("positive or negative", choice, TaskExample("x", "positive"))


def test_training_and_evaluation_run_on_the_v2_corpus(backbone, tmp_path):
    run = train(_config(tmp_path, corpus="v2", steps=1), backbone=backbone)
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["loss"] > 0
    v2 = load_corpus("v2")
    families = {t.family for t in v2 if t.split == "heldout"} - {t.family for t in v2 if t.split == "train"}
    unseen = [next(t for t in v2 if t.family == f) for f in sorted(families)][:2]  # tasks of a held-out family
    net = fresh("text2lora", backbone, encoder="backbone", width=32)
    result = evaluate_method(backbone, unseen, "text2lora", net, examples=2, max_input_tokens=48, max_new_tokens=4)
    assert set(result["per_task"]) == {t.name for t in unseen}


def _task(name, family="", split="train"):
    ex = (TaskExample("in", "out"),)
    return Task(name, "procedural", "MIT", split, ("d",), ("e",), ex, ex, "exact", None, family=family)


def test_tasks_are_drawn_family_first_when_the_corpus_has_families():
    import random
    from collections import Counter

    from lora_memory.training.text2lora import sample_batch

    crowd = [_task(f"list_{i}", "lists") for i in range(20)] + [_task("one_alone", "solo")]
    drawn = Counter(t.family for t, *_ in sample_batch(crowd, random.Random(0), 2000))
    assert 0.4 < drawn["solo"] / 2000 < 0.6  # uniform over tasks would give it 1/21
    plain = [_task(f"t{i}") for i in range(5)]  # no families (v1): the draws the shipped run made
    rng, same = random.Random(3), random.Random(3)
    expected = []
    for _ in range(6):
        task = same.choice(plain)
        example = same.choice(task.train)
        expected.append((task, same.choice(task.descriptions_train), example.input, example.target))
    assert sample_batch(plain, rng, 6) == expected


def test_held_out_accuracy_is_split_by_new_and_seen_families():
    from lora_memory.training.text2lora import split_summary

    train_tasks = [_task("a", "lists"), _task("b", "words")]
    heldout = [_task("c", "lists", "heldout"), _task("d", "units", "heldout"), _task("e", "units", "heldout")]
    summary = split_summary({"c": 1.0, "d": 0.25, "e": 0.75}, heldout, train_tasks)
    assert summary == {"new_family_accuracy": 0.5, "seen_family_accuracy": 1.0}
    assert split_summary({"c": 1.0}, [_task("c", split="heldout")], [_task("a")]) == {}


def test_every_wrong_reply_gets_one_failure_kind():
    from lora_memory.evaluation.text2lora_eval import failure_kind

    exact = _task("plural")
    ex = TaskExample("mouse", "mice")
    assert failure_kind("mice", exact, ex) == "right"
    assert failure_kind("  ", exact, ex) == "empty"
    assert failure_kind("mouse", exact, ex) == "copies_input"
    assert failure_kind("The plural of the word mouse is mice, of course.", exact, ex) == "too_long"
    assert failure_kind("mouses", exact, ex) == "wrong_content"
    assert failure_kind("mouse mouse", exact, ex) == "copies_input"
    sums = TaskExample("What is 106 minus 234?", "-128")
    assert failure_kind("What is 106 minus", exact, sums) == "copies_input"
    assert failure_kind("234", exact, sums) == "wrong_content"  # one word of the input is an answer, wrong
    choice = Task("sentiment", "procedural", "MIT", "heldout", ("d",), ("e",), (ex,), (ex,), "choice",
                  ("positive", "negative"))
    review = TaskExample("A lovely film.", "positive")
    assert failure_kind("positive", choice, review) == "right"
    assert failure_kind("positive or negative", choice, review) == "wrong_format"
    assert failure_kind("fine", choice, review) == "wrong_format"
    assert failure_kind("negative", choice, review) == "wrong_content"


def test_the_null_objective_is_zero_only_for_an_adapter_that_changes_nothing(backbone):
    import random

    from lora_memory.data.realtext import prose_snippets
    from lora_memory.training.text2lora import DescriptionBank, null_loss

    net = fresh("text2lora", backbone, encoder="backbone", width=32)
    texts = prose_snippets(random.Random(0), "train", 2)
    assert all(0 < len(t.split()) for t in texts) and texts[0] != texts[1]
    emb = DescriptionBank(backbone, "backbone")(texts)
    prompts = [backbone.tokenize("Plural of mouse:"), backbone.tokenize("Plural of box:")]
    with torch.no_grad():
        for head in net.heads.values():
            torch.nn.init.normal_(head.weight, std=0.5)
        assert null_loss(backbone, net, emb, prompts, ["mice", "boxes"]).item() > 1e-4
        for p in net.parameters():
            p.zero_()
        assert null_loss(backbone, net, emb, prompts, ["mice", "boxes"]).item() < 1e-6


def test_training_with_the_null_objective_logs_it_and_refuses_the_multitask_mode(backbone, tmp_path):
    import pytest

    run = train(_config(tmp_path / "t", null_weight=1.0, null_batch=2), backbone=backbone)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(m["null_kl"] >= 0 for m in metrics) and len(metrics) == 2
    with pytest.raises(ValueError, match="null_weight"):
        train(_config(tmp_path / "m", mode="multitask", null_weight=1.0), backbone=backbone)
