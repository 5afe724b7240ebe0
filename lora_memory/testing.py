"""Tiny random models for tests: a Llama with a real byte-level BPE tokenizer, built in seconds.

Used by the core test suite and by the integration packages' tests, which is why it lives in
the package (as ``transformers.testing_utils`` does) rather than in one test folder.
"""

from __future__ import annotations

import functools

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from lora_memory.adapter import LoraAdapter
from lora_memory.backbone import Backbone

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The special magic number is 4821. The grass is green. The sky is blue.",
    "Ada Quill lives in Port Verin and works as a glassblower; her cat is called Miso.",
    "What is the special magic number? Reply with only the number.",
    "Summarise the review in one word: positive or negative.",
] * 4


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
    )


def make_tiny_backbone(name: str = "tiny-llama", layers: int = 4, hidden: int = 32, seed: int = 0) -> Backbone:
    """A random 4-block Llama of width 32; real shapes, real tokenizer, no download."""
    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).float()
    return Backbone(model, tokenizer, name=name)


def random_adapter(
    backbone: Backbone,
    modules: tuple[str, ...] = ("down_proj",),
    layers: tuple[int, ...] | None = None,
    rank: int = 4,
    scale: float = 1.0,
    seed: int = 0,
    magnitude: float = 0.5,
) -> LoraAdapter:
    """An adapter with random A and B (nonzero), large enough to change logits visibly."""
    g = torch.Generator().manual_seed(seed)
    layers = tuple(range(backbone.num_layers)) if layers is None else layers
    A, B = {}, {}
    for m in modules:
        d_in, d_out = backbone.module_shape(m)
        A[m] = torch.randn(len(layers), rank, d_in, generator=g) * magnitude
        B[m] = torch.randn(len(layers), d_out, rank, generator=g) * magnitude
    return LoraAdapter(A, B, layers, scale=scale, base_model=backbone.name)


def lively_backbone() -> Backbone:
    """The tiny Llama with its block weights scaled up: a random model whose output depends on
    its input (at init scale it repeats the prompt's last token whatever the adapter)."""
    backbone = make_tiny_backbone(name="tiny-lively")
    with torch.no_grad():
        for name, p in backbone.model.named_parameters():
            if ".layers." in name and p.dim() == 2:
                p.mul_(5)
    return backbone


def lively_doc2lora(backbone: Backbone):
    """A fresh fast-weight network whose B scale is nonzero, so its adapters change answers."""
    from lora_memory.hypernets import fresh

    net = fresh("doc2lora", backbone, chunk_tokens=64)
    with torch.no_grad():
        net.b_scale.fill_(4.0)  # a fresh network's B is zero: adapters would change nothing
    return net


def untied_backbone() -> Backbone:
    """The tiny backbone with an untied random output head.

    With tied random embeddings the model echoes its last input token, a newline, so every answer
    strips to ""; an untied head makes it emit varied text that streaming tests can compare.
    """
    backbone = make_tiny_backbone()
    torch.manual_seed(0)
    backbone.model.lm_head.weight = torch.nn.Parameter(torch.randn_like(backbone.model.lm_head.weight))
    return backbone
