"""Integration: the real embedded SmolLM2-135M-Instruct (dequantized from the wheel's GGUF)."""

import json
from importlib import resources

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from lora_memory import AdapterBatch, Backbone, answer, export_peft, internalize
from lora_memory.embedded import DEFAULT_MODEL_NAME, default_model_dir
from lora_memory.hypernets import load_default
from tests.conftest import random_adapter

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smol() -> Backbone:
    return Backbone.load(None, device="cpu")


@pytest.fixture(scope="module")
def example():
    data = resources.files("lora_memory") / "data"
    return (data / "example.md").read_text(), json.loads((data / "example_questions.json").read_text())


def _logits(backbone, question, adapter=None):
    ids, mask = backbone.pad([backbone.chat_prompt(question)])
    return backbone.forward_logits(ids, mask, AdapterBatch.stack([adapter]) if adapter else None)


def test_embedded_backbone_identity_and_chat(smol):
    ident = smol.identity
    assert (ident.name, ident.num_layers, ident.hidden_size) == (DEFAULT_MODEL_NAME, 30, 576)
    assert ident.module_shapes["down_proj"] == [1536, 576] and ident.module_shapes["v_proj"] == [576, 192]
    assert "paris" in answer(smol, "What is the capital of France?", max_new_tokens=12).lower()


def test_in_context_answers_the_example(smol, example):
    document, questions = example
    reply = answer(smol, f"{document}\n\nAnswer from the text above. {questions[0]['question']}", max_new_tokens=24)
    assert questions[0]["answer"].lower() in reply.lower()


def test_default_doc2lora_internalizes_with_chunks(smol, example):
    document, questions = example
    net = load_default("doc2lora", smol)
    adapter = internalize(smol, net, document * 6, chunk_tokens=512)
    assert adapter.metadata["chunks"] == 4 and adapter.base_model == DEFAULT_MODEL_NAME
    logits = _logits(smol, questions[0]["question"], adapter)
    if net.card.get("untrained"):
        assert torch.equal(logits, _logits(smol, questions[0]["question"]))


def test_shipped_text2lora_does_a_held_out_task_from_its_description(smol):
    """A task and descriptions never trained on: with the shipped T2L's adapter the model does the
    task, bare it does not (measured 50% and 0% on this task, 16 examples x 3 descriptions)."""
    from lora_memory.data.task_corpus import load_corpus
    from lora_memory.evaluation.text2lora_eval import evaluate_method

    net = load_default("text2lora", smol)
    assert not net.card.get("untrained") and net.layers == tuple(range(15, 30))
    task = [t for t in load_corpus(None) if t.name == "procedural/email_user" and t.split == "heldout"]
    score = {m: evaluate_method(smol, task, m, net, examples=16)["summary"]["accuracy"] for m in ("text2lora", "base")}
    assert score["text2lora"] >= 0.25 and score["base"] <= 0.1, score


def test_peft_export_parity_on_the_real_model(smol, tmp_path):
    adapter = random_adapter(smol, modules=("down_proj", "q_proj", "v_proj"), layers=tuple(range(15, 30)), rank=8,
                             scale=2.0, magnitude=0.05)
    folder = export_peft(adapter, smol, tmp_path / "a", pad_for_vllm=True)
    ids, mask = smol.pad([smol.chat_prompt("What is the special magic number?")])
    ours = smol.forward_logits(ids, mask, AdapterBatch.stack([adapter]))
    base = AutoModelForCausalLM.from_pretrained(default_model_dir(), dtype=torch.float32)
    with torch.no_grad():
        theirs = PeftModel.from_pretrained(base, folder).eval()(input_ids=ids, attention_mask=mask).logits
    assert (ours - smol.forward_logits(ids, mask)).abs().max() > 1e-2
    assert (ours - theirs).abs().max().item() < 1e-4


def test_shipped_doc2lora_internalizes_unseen_needles(smol):
    """The shipped checkpoint answers needles it never saw from the adapter alone; the bare model cannot."""
    import random

    from lora_memory.data.synthetic import needle_sample
    from lora_memory.evaluation.qa import answer_samples
    from lora_memory.hypernets import card_path, shipped_checkpoint

    assert shipped_checkpoint("doc2lora") is not None, "no Doc-to-LoRA checkpoint ships in lora_memory/checkpoints"
    card = json.loads(card_path("doc2lora").read_text())
    assert card["base_model"] == DEFAULT_MODEL_NAME and card["training"]["step"]
    net = load_default("doc2lora", smol)
    rng = random.Random(2026)
    docs = [needle_sample(rng, "heldout", n, lambda s: len(smol.tokenize(s))) for n in (120, 200, 300, 400, 500, 600)]
    with_adapter = [r["exact"] for r in answer_samples(smol, docs, "doc2lora", net, max_new_tokens=8)]
    bare = [r["exact"] for r in answer_samples(smol, docs, "no_context", max_new_tokens=8)]
    assert sum(with_adapter) >= 5 and sum(bare) == 0, (with_adapter, bare)


def test_reranking_finds_the_passage_that_embeddings_miss(smol):
    """Embeddings match the codename question to the product's design passage; the backbone's
    question likelihood finds the passage that states the codename in other words."""
    from lora_memory import ParametricMemory

    passages = {
        "design": "The Velmora Nine was first drawn up by the engineer Tasko Brill.",
        "codename": "Before its release, the Velmora Nine went by the working name Quillfeather.",
        "plant": "The Velmora Nine is assembled in a plant near Osterwick.",
        "pet": "Ondrel Vask keeps a tortoise called Pemble.",
    }
    with ParametricMemory(backbone=smol, doc2lora=load_default("doc2lora", smol)) as memory:
        memory.add_documents(list(passages.values()), ids=list(passages), progress=False)
        asked = "What was the internal codename of the Velmora Nine?"
        assert memory.route(asked)[0][0] == "codename"
        memory.rerank = False
        assert memory.route(asked)[0][0] == "design"
