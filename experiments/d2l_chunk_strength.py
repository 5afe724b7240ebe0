"""Do the chunks that hold a fact write stronger updates? The measurement behind `MAX_CHUNKS`.

Internalizes one held-out 32K-token needle document chunk by chunk (unfolded), ranks the chunk
adapters by the Frobenius norm of ``B @ A`` (mean over layers), and asks the needle with only the
4, 8 and 16 strongest chunks kept. A tidied copy of the scratch script behind the figures in
BENCHMARKS.md ("Why 32K-token documents failed"):

    OMP_NUM_THREADS=1 python -m experiments.d2l_chunk_strength
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from lora_memory.backbone import Backbone
from lora_memory.chunking import chunk_token_ids
from lora_memory.data.synthetic import needle_sample
from lora_memory.evaluation.qa import exact_match
from lora_memory.generation import answer
from lora_memory.hypernets.checkpoint import load_default
from lora_memory.hypernets.chunk_policy import strongest_chunks
from lora_memory.hypernets.doc2lora import internalize

SECTIONS = ("Why 32K-token documents failed",)  # the BENCHMARKS.md sections this reproduces


def main(argv: Sequence[str] | None = None) -> None:
    backbone = Backbone.load(None)
    net = load_default("doc2lora", backbone)
    rng = random.Random(99)
    sample = needle_sample(rng, "heldout", 32768, lambda s: len(backbone.tokenize(s)), depth=0.3)
    qa = sample.qas[0]
    full = internalize(backbone, net, sample.document, chunk_tokens=net.chunk_tokens, compress=False)
    n = full.metadata["chunks"]
    r = full.rank() // n
    chunks = [backbone.tokenizer.decode(c) for c in chunk_token_ids(backbone.tokenize(sample.document), net.chunk_tokens,
                                                                         backbone.sentence_breaks)]
    at = next((i for i, c in enumerate(chunks) if qa.answer in c), None)
    a = full.A["down_proj"].unflatten(1, (n, r))
    b = full.B["down_proj"].unflatten(2, (n, r))
    norms = [float((b[:, :, c] @ a[:, c]).flatten(1).norm(dim=1).mean()) for c in range(n)]
    order = sorted(range(n), key=lambda c: -norms[c])
    median = sorted(norms)[n // 2]
    print(f"needle chunk {at}: strength rank {order.index(at) if at is not None else None}, norm "
          f"{norms[at] if at is not None else float('nan'):.1f}; all chunks min {min(norms):.1f} median {median:.1f} "
          f"max {max(norms):.1f}")
    for keep in (4, 8, 16):
        kept = strongest_chunks(full, r, keep)
        reply = answer(backbone, qa.question, kept, max_new_tokens=12)
        print(f"strongest {keep}: needle kept {at in kept.metadata['chunks_kept']}, reply {reply!r}, "
              f"correct {exact_match(reply, qa.answer)}")


if __name__ == "__main__":
    main()
