"""TaskAdapter on a tiny model: the adapter carries the task, every entry point gives one answer."""

import asyncio
import copy

import pytest
import torch

from lora_memory import AdapterBatch, DocumentError, QuestionError, TaskAdapter, generate, import_peft, internalize
from lora_memory.hypernets import fresh
from lora_memory.testing import lively_text2lora

DESCRIPTION = "Answer with the sentiment of the review: positive or negative."
INPUTS = ["The film was great.", "Terrible service.", "What is the magic number?"]


@pytest.fixture(scope="module")
def task(lively):
    net = lively_text2lora(lively)
    return TaskAdapter(DESCRIPTION, backbone=lively, text2lora=net, max_new_tokens=6)


def test_the_prompt_is_the_input_and_the_task_is_in_the_adapter(task, lively):
    # the input alone, under the empty system turn the network was trained with
    prompts = [lively.chat_prompt(x, system="") for x in INPUTS]
    expected = generate(lively, prompts, [task.adapter] * 3, max_new_tokens=6)
    assert [task(x) for x in INPUTS] == expected
    assert expected != generate(lively, prompts, max_new_tokens=6)  # the adapter matters
    assert task.adapter is task.adapter and task.adapter.metadata["description"] == DESCRIPTION


def test_batch_async_and_streaming_agree(task):
    alone = [task.invoke(x) for x in INPUTS]
    assert all(alone) and task.batch(INPUTS) == alone and task.batch([]) == []
    assert ["".join(task.stream(x)) for x in INPUTS] == alone

    async def run():
        one = await task.ainvoke(INPUTS[0])
        many = await task.abatch(INPUTS)
        streamed = "".join([piece async for piece in task.astream(INPUTS[1])])
        return one, many, streamed

    assert asyncio.run(run()) == (alone[0], alone, alone[1])


def test_save_peft_round_trips(task, lively, tmp_path):
    path = task.save_peft(tmp_path / "task-lora", pad_for_vllm=True)
    loaded = import_peft(path, lively)
    for m in task.adapter.modules:
        for layer in task.adapter.layers:
            torch.testing.assert_close(loaded.delta_weight(m, layer), task.adapter.delta_weight(m, layer))


def test_bad_descriptions_and_inputs_raise(task, lively):
    for bad in ("", "   ", None):
        with pytest.raises(DocumentError):
            TaskAdapter(bad, backbone=lively)
        with pytest.raises(QuestionError):
            task(bad)
    with pytest.raises(QuestionError):
        task.batch("one string, not a list")
    with pytest.raises(ValueError, match="not both"):
        TaskAdapter(DESCRIPTION, backbone=lively, model="another")


def test_backbones_are_shared_and_loaded_on_first_use(tiny_model_dir):
    first = TaskAdapter(DESCRIPTION, model=str(tiny_model_dir), device="cpu")
    second = TaskAdapter("Reply with one word.", model=str(tiny_model_dir), device="cpu")
    assert first.backbone is second.backbone


def test_the_prompt_follows_the_networks_system_turn(lively):
    net = fresh("text2lora", lively, encoder="backbone", system_prompt="Be brief.")
    prompt = TaskAdapter(DESCRIPTION, backbone=lively, text2lora=net)._prompt("Terrible service.")
    assert lively.tokenizer.decode(prompt).startswith("<|im_start|>system\nBe brief.<|im_end|>")
    lean, default = lively.chat_prompt("x", system=""), lively.chat_prompt("x")
    assert lively.tokenizer.decode(lean).startswith("<|im_start|>system\n<|im_end|>") and lean[-len(default):] == default


def test_task_and_document_adapters_compose_exactly(task, lively, lively_net):
    """Rank concatenation is exact: the combined adapter's logits are those of the model with both
    updates merged into its weights (the task's q/v and the document's down_proj)."""
    doc = internalize(lively, lively_net, "Project alpha keeps the code 48. The sky is blue.")
    both = task.combined_with(doc, None)
    assert set(both.modules) == set(task.adapter.modules) | set(doc.modules)
    merged = copy.deepcopy(lively.model)
    with torch.no_grad():
        for adapter in (task.adapter, doc):
            for m in adapter.modules:
                for layer in adapter.layers:
                    block = merged.model.layers[layer]
                    parent = block.mlp if m in ("gate_proj", "up_proj", "down_proj") else block.self_attn
                    getattr(parent, m).weight += adapter.delta_weight(m, layer)
    ids, mask = lively.pad([lively.chat_prompt(INPUTS[2])])
    with torch.no_grad():
        expected = merged(input_ids=ids, attention_mask=mask).logits
    got = lively.forward_logits(ids, mask, AdapterBatch.stack([both]))
    for alone in (task.adapter, doc):
        assert not torch.allclose(got, lively.forward_logits(ids, mask, AdapterBatch.stack([alone])), atol=1e-3)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
