"""The measurements, one function per section; each returns a JSON-ready dict.

* ``update``: what it costs to take in a document: Doc-to-LoRA ``internalize`` (chunked), one
  prefill of the same document, building the RAG index, and context distillation (CD) of a LoRA
  of the same shape for ``cd_steps`` steps (only where the teacher prompt fits the window).
* ``query``: time to first token and per full answer, and peak memory, for the adapter, the
  document in context, RAG and no context.
* ``state``: adapter bytes (fp32 / fp16 / int8 rows) against the fp16 KV cache of the document.
* ``batch``: ``batch`` requests with different adapters in one ``generate`` call vs one by one.
* ``t2l``: Text-to-LoRA against 3-shot in-context learning, adaptation cost amortised.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from lora_memory.adapter import AdapterBatch, LoraAdapter
from lora_memory.adapter_io import adapter_to_bytes, roundtrip, stored_nbytes
from lora_memory.backbone import Backbone
from lora_memory.bench.documents import RagIndex, in_context_prompt
from lora_memory.bench.tasks import few_shot_prompt, load_task
from lora_memory.bench.workspace import Workspace
from lora_memory.evaluation.context_distill import context_distill, teacher_fits
from lora_memory.generation import generate
from lora_memory.hypernets.doc2lora import internalize
from lora_memory.hypernets.text2lora import describe_task

PREFILL_MODE = (
    "one no-grad forward with use_cache=True over the document; a document longer than the context "
    "window is split into independent window-size pieces (each a fresh cache), so the cost is what "
    "encoding every token once costs, not a valid single cache beyond the window"
)
QUERY_METHODS = ("d2l", "in_context", "rag", "no_context")


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den <= 0 else num / den


# ---- shared primitives -----------------------------------------------------------------------
def decode_fixed(
    backbone: Backbone,
    prompts: Sequence[Sequence[int]],
    adapters: Sequence[LoraAdapter | None] | None,
    new_tokens: int,
) -> int:
    """`lora_memory.generate` with EOS suppressed, so exactly ``new_tokens`` are decoded per prompt."""
    generate(backbone, prompts, adapters, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    return new_tokens


def prefill(backbone: Backbone, text: str) -> int:
    """Tokenize ``text`` and run the prefill forward (see `PREFILL_MODE`); returns the piece count."""
    ids = backbone.tokenize(text)
    window = backbone.context_window
    pieces = 0
    with torch.no_grad():
        for start in range(0, len(ids), window):
            piece = torch.tensor([ids[start : start + window]], device=backbone.device)
            backbone.model(input_ids=piece, use_cache=True, logits_to_keep=1)
            pieces += 1
    return pieces


# ---- update latency --------------------------------------------------------------------------
def measure_update(ws: Workspace) -> dict[str, Any]:
    bb, cfg = ws.backbone, ws.config
    rows = []
    for n in tqdm(cfg.length_list(), desc="bench update", unit="length"):
        doc = ws.doc(n)
        row: dict[str, Any] = {"length": n, "tokens": doc.tokens}
        m, adapter = ws.timed(lambda: internalize(bb, ws.d2l, doc.text))
        ws.adapters[n] = adapter
        row["d2l"] = {**m.to_dict(), "chunks": adapter.metadata["chunks"], "rank": adapter.rank()}
        m, pieces = ws.timed(lambda: prefill(bb, doc.text))
        row["prefill"] = {**m.to_dict(), "pieces": pieces}
        m, index = ws.timed(lambda: RagIndex(bb, ws.router, doc, cfg.rag_chunk_tokens))
        ws.indexes[n] = index
        row["rag_index"] = {**m.to_dict(), "chunks": len(index.chunks), "encoder": ws.router.name}
        if teacher_fits(bb, doc.text, doc.sample.qas):
            def run(steps: int, adapter=adapter, doc=doc) -> dict[str, float]:
                return context_distill(bb, adapter, doc.text, doc.sample.qas, steps=steps, lr=cfg.cd_lr)[1]

            if cfg.warmup:
                run(1)  # warm-up: the teacher pass and one step
            m, info = ws.timed(lambda: run(cfg.cd_steps), warmup=0)
            row["cd"] = {**m.to_dict(), **info, "steps": cfg.cd_steps}
        else:
            row["cd"] = {"skipped": "the document does not fit the context window (no teacher)"}
        d2l_s = row["d2l"]["median_s"]
        cd_s = row["cd"].get("median_s")
        row["ratios"] = {
            "cd_over_d2l": _ratio(cd_s, d2l_s),
            "d2l_over_prefill": _ratio(d2l_s, row["prefill"]["median_s"]),
            "rag_index_over_d2l": _ratio(row["rag_index"]["median_s"], d2l_s),
            # steps at which CD would cost 50x D2L, from this run's teacher time and time per step
            "cd_steps_for_50x": None if cd_s is None else max(
                0.0, (50 * d2l_s - row["cd"]["teacher_s"]) / row["cd"]["seconds_per_step"]),
        }
        rows.append(row)
    return {
        "prefill_mode": PREFILL_MODE,
        "d2l": {"arch": ws.d2l.arch, "chunk_tokens": ws.d2l.chunk_tokens, "layers": list(ws.d2l.layers),
                "target": ws.d2l.target},
        "cd": {"steps": cfg.cd_steps, "lr": cfg.cd_lr, "top_k": 16, "optimizer": "Adam",
               "shape": "same layers, module and rank as the D2L adapter of the same document",
               "teacher": "backbone with the document in the prompt, top-16 probabilities at the answer "
                          "positions, computed once per run (its time is included)"},
        "rows": rows,
    }


# ---- query latency ---------------------------------------------------------------------------
def _query_plans(ws: Workspace, n: int) -> dict[str, tuple[Any, LoraAdapter | None, dict[str, Any]]]:
    """Per method: a prompt builder (called inside the timed region), the adapter, and facts."""
    bb, cfg = ws.backbone, ws.config
    doc = ws.doc(n)
    question = bb.chat_prompt(doc.question)
    ic = in_context_prompt(bb, doc, cfg.new_tokens)
    index = ws.index(n)
    limit = bb.context_window - cfg.new_tokens
    rag_ids, rag_k = index.prompt(doc.question, cfg.rag_k, limit)
    return {
        "d2l": (lambda: question, ws.adapter(n), {"prompt_tokens": len(question), "rank": ws.adapter(n).rank()}),
        "in_context": (
            lambda: ic.ids,
            None,
            {"prompt_tokens": len(ic.ids), "document_tokens_kept": ic.document_tokens_kept, "truncated": ic.truncated},
        ),
        # retrieval (question embedding + top-k) runs inside the timed call
        "rag": (lambda: index.prompt(doc.question, cfg.rag_k, limit)[0], None,
                {"prompt_tokens": len(rag_ids), "chunks_in_prompt": rag_k}),
        "no_context": (lambda: question, None, {"prompt_tokens": len(question)}),
    }


def measure_query(ws: Workspace) -> dict[str, Any]:
    bb, cfg = ws.backbone, ws.config
    rows = []
    for n in tqdm(cfg.length_list(), desc="bench query", unit="length"):
        row: dict[str, Any] = {"length": n, "tokens": ws.doc(n).tokens}
        for method, (prompt, adapter, facts) in _query_plans(ws, n).items():
            ttft, _ = ws.timed(lambda: generate(bb, [prompt()], [adapter], max_new_tokens=1))
            full, count = ws.timed(lambda: decode_fixed(bb, [prompt()], [adapter], cfg.new_tokens))
            row[method] = {**facts, "ttft": ttft.to_dict(), "full": full.to_dict(), "new_tokens": count,
                           "peak_bytes": full.peak_bytes}
        d2l_full, d2l_ttft = row["d2l"]["full"]["median_s"], row["d2l"]["ttft"]["median_s"]
        row["ratios"] = {
            f"{m}_over_d2l": {"full": _ratio(row[m]["full"]["median_s"], d2l_full),
                              "ttft": _ratio(row[m]["ttft"]["median_s"], d2l_ttft)}
            for m in QUERY_METHODS if m != "d2l"
        }
        rows.append(row)
    return {
        "methods": list(QUERY_METHODS),
        "new_tokens": cfg.new_tokens,
        "context_window": bb.context_window,
        "notes": {
            "d2l": "the document's adapter applied; the question alone in the prompt",
            "in_context": "the document in the prompt; its head is kept when it exceeds the window "
                          "(see truncated / document_tokens_kept)",
            "rag": f"top-{cfg.rag_k} chunks of {cfg.rag_chunk_tokens} tokens by {ws.router.name}; question "
                   "embedding and search are inside the timed call",
            "no_context": "the question alone, no adapter",
            "ttft": "generate(max_new_tokens=1)",
            "full": f"exactly {cfg.new_tokens} tokens decoded (EOS suppressed)",
        },
        "rows": rows,
    }


# ---- state size ------------------------------------------------------------------------------
def _synthetic_like(adapter: LoraAdapter, seed: int = 0, b_std: float = 0.02) -> LoraAdapter:
    """Random A (unit rows) and B of ``adapter``'s shape, for quantisation error when it is zero."""
    g = torch.Generator().manual_seed(seed)
    A = {m: torch.nn.functional.normalize(torch.randn(a.shape, generator=g), dim=-1) for m, a in adapter.A.items()}
    B = {m: torch.randn(b.shape, generator=g) * b_std for m, b in adapter.B.items()}
    return LoraAdapter(A, B, adapter.layers, adapter.scale, adapter.base_model, {"synthetic": True})


def logit_change(
    backbone: Backbone, reference: LoraAdapter, approx: LoraAdapter, prompts: Sequence[Sequence[int]]
) -> dict[str, float | bool]:
    """How far ``approx`` moves the logits from ``reference`` on ``prompts``.

    Returns:
        ``max_rel_logits``: max |logits_approx - logits_ref| / max |logits_ref| (per prompt, worst);
        ``max_rel_effect``: the same change relative to the adapter's own effect on the logits,
        max |logits_ref - logits_base| (infinite when the reference adapter changes nothing
        and the approximation does; 0 when both change nothing);
        ``argmax_agree``: the next-token choice is the same at every position.
    """
    worst_rel, worst_effect, agree = 0.0, 0.0, True
    for p in prompts:
        ids, mask = backbone.pad([p])
        with torch.no_grad():
            base = backbone.forward_logits(ids, mask).float()
            ref = backbone.forward_logits(ids, mask, AdapterBatch.stack([reference]).to(backbone.device)).float()
            new = backbone.forward_logits(ids, mask, AdapterBatch.stack([approx]).to(backbone.device)).float()
        diff = (new - ref).abs().max().item()
        effect = (ref - base).abs().max().item()
        worst_rel = max(worst_rel, diff / max(ref.abs().max().item(), 1e-12))
        worst_effect = max(worst_effect, diff / effect if effect > 0 else (0.0 if diff == 0 else float("inf")))
        agree &= bool((new.argmax(-1) == ref.argmax(-1)).all())
    return {"max_rel_logits": worst_rel, "max_rel_effect": worst_effect, "argmax_agree": agree}


def _quality(bb: Backbone, adapter: LoraAdapter, prompts: list[list[int]]) -> dict[str, Any]:
    """What storing ``adapter`` at fp16 and int8 (the store's codec) does to its logits."""
    return {form: logit_change(bb, adapter, roundtrip(adapter, precision), prompts)
            for form, precision in (("fp16", "fp16"), ("int8_rows", "int8"))}


def measure_state(ws: Workspace) -> dict[str, Any]:
    bb, cfg = ws.backbone, ws.config
    rows = []
    lengths = cfg.length_list()
    for n in tqdm(lengths, desc="bench state", unit="length"):
        adapter, tokens = ws.adapter(n), ws.doc(n).tokens
        sizes = {
            "fp32": stored_nbytes(adapter, "fp32"),
            "fp16": stored_nbytes(adapter, "fp16"),
            "int8_rows": stored_nbytes(adapter, "int8"),
            "stored_file": len(adapter_to_bytes(adapter, bb.identity)),
            "stored_file_int8": len(adapter_to_bytes(adapter, bb.identity, "int8")),
        }
        kv = bb.kv_cache_bytes(tokens)
        rows.append({"length": n, "tokens": tokens, "rank": adapter.rank(), "adapter_bytes": sizes,
                     "kv_cache_bytes_fp16": kv,
                     "kv_over_adapter": {form: _ratio(kv, b) for form, b in sizes.items()}})
    # quality cost of the compressed forms, on the longest document's adapter
    longest = ws.adapter(lengths[-1])
    prompts = [bb.chat_prompt(ws.doc(lengths[-1]).question), bb.chat_prompt("Where does the river meet the sea?"),
               bb.chat_prompt("Write one sentence about the weather today.")]
    zero = all(float(b.abs().max()) == 0.0 for b in longest.B.values())
    quality: dict[str, Any] = {"adapter": f"D2L adapter of the {lengths[-1]}-token document",
                               "prompts": len(prompts), "adapter_is_zero": zero,
                               "d2l": _quality(bb, longest, prompts)}
    if zero:
        quality["synthetic"] = _quality(bb, _synthetic_like(longest), prompts)
        quality["synthetic_note"] = (
            "the D2L adapter is exactly zero (untrained network): quantisation error measured on a random "
            "adapter of the same shape instead (unit-norm rows of A, B ~ N(0, 0.02))"
        )
    return {
        "kv_formula": "2 (K,V) * layers * tokens * kv_heads * head_dim * 2 bytes (fp16)",
        "forms": {"fp32": "as served; the store's default", "fp16": "half precision (ParametricMemory(precision='fp16'))",
                  "int8_rows": "int8 with an fp16 absmax scale per rank row of A / rank column of B "
                               "(ParametricMemory(precision='int8'))",
                  "stored_file": "adapter_to_bytes (fp32 safetensors + JSON header)",
                  "stored_file_int8": "adapter_to_bytes at int8 (safetensors + JSON header)"},
        "rows": rows,
        "quality": quality,
    }


# ---- batched multi-adapter serving -----------------------------------------------------------
def measure_batch(ws: Workspace) -> dict[str, Any]:
    bb, cfg = ws.backbone, ws.config
    n = min(cfg.length_list())
    docs = [ws.doc(n, seed_offset=i + 1) for i in range(cfg.batch)]
    adapters = [internalize(bb, ws.d2l, d.text) for d in tqdm(docs, desc="bench batch adapters", unit="doc")]
    prompts = [bb.chat_prompt(d.question) for d in docs]
    tokens = cfg.batch * cfg.new_tokens
    batched, _ = ws.timed(lambda: decode_fixed(bb, prompts, adapters, cfg.new_tokens))
    plain, _ = ws.timed(lambda: decode_fixed(bb, prompts, None, cfg.new_tokens))
    single, _ = ws.timed(lambda: [decode_fixed(bb, [p], [a], cfg.new_tokens) for p, a in zip(prompts, adapters)])
    tps = {k: tokens / m.median_s for k, m in (("batched", batched), ("batched_no_adapter", plain),
                                                ("one_by_one", single))}
    return {
        "batch": cfg.batch,
        "new_tokens": cfg.new_tokens,
        "document_tokens": n,
        "adapter_rank": adapters[0].rank(),
        "batched": batched.to_dict(),
        "batched_no_adapter": plain.to_dict(),
        "one_by_one": single.to_dict(),
        "tokens_per_s": tps,
        "ratios": {"batched_over_one_by_one": _ratio(tps["batched"], tps["one_by_one"]),
                   "adapter_overhead_batched": _ratio(batched.median_s, plain.median_s)},
    }


# ---- Text-to-LoRA vs 3-shot ------------------------------------------------------------------
def measure_t2l(ws: Workspace) -> dict[str, Any]:
    bb, cfg = ws.backbone, ws.config
    task = load_task(cfg.t2l_tasks)
    net = ws.t2l
    N = len(task.inputs)
    new = cfg.t2l_new_tokens
    start = time.perf_counter()
    adapter = describe_task(bb, net, task.description)
    cold = time.perf_counter() - start  # includes loading the description encoder on first use
    adapt, adapter = ws.timed(lambda: describe_task(bb, net, task.description))
    t2l_prompts = [net.prompt(bb, x) for x in task.inputs]
    fs_prompts = [few_shot_prompt(bb, net, task, x) for x in task.inputs]
    t2l_run, _ = ws.timed(lambda: [decode_fixed(bb, [p], [adapter], new) for p in t2l_prompts])
    fs_run, _ = ws.timed(lambda: [decode_fixed(bb, [p], None, new) for p in fs_prompts])
    desc_tokens = len(bb.tokenize(task.description))
    overhead = len(net.prompt(bb, ""))  # the chat template's fixed tokens (system turn, role markers)
    t2l_tokens = sum(map(len, t2l_prompts)) / N
    fs_tokens = sum(map(len, fs_prompts)) / N
    t2l_query, fs_query = t2l_run.median_s / N, fs_run.median_s / N
    t2l_amortised = t2l_query + adapt.median_s / N
    return {
        "task": task.name,
        "queries": N,
        "new_tokens": new,
        "encoder": net.config.encoder,
        "adapt": {**adapt.to_dict(), "cold_s": cold},
        "t2l_queries": t2l_run.to_dict(),
        "few_shot_queries": fs_run.to_dict(),
        "prompt_tokens_per_query": {"t2l": t2l_tokens, "t2l_incl_description_amortised": t2l_tokens + desc_tokens / N,
                                    "three_shot": fs_tokens, "description_tokens": desc_tokens,
                                    "chat_template_overhead": overhead},
        "seconds_per_query": {"t2l": t2l_query, "t2l_amortised": t2l_amortised, "three_shot": fs_query},
        "ratios": {
            "tokens_three_shot_over_t2l": _ratio(fs_tokens, t2l_tokens + desc_tokens / N),
            # the same without the template's fixed tokens, which every prompt of this backbone pays
            "tokens_three_shot_over_t2l_excl_template": _ratio(fs_tokens - overhead,
                                                               t2l_tokens - overhead + desc_tokens / N),
            "time_three_shot_over_t2l_amortised": _ratio(fs_query, t2l_amortised),
            "break_even_queries": (adapt.median_s / (fs_query - t2l_query)) if fs_query > t2l_query else None,
        },
        "notes": "queries run one at a time, each decoding exactly new_tokens; adaptation = description encoding "
                 "+ hypernetwork forward (describe_task), amortised over the task's queries; description tokens "
                 "counted with the backbone's tokenizer and amortised too",
    }


SECTIONS = {"update": measure_update, "query": measure_query, "state": measure_state, "batch": measure_batch,
            "t2l": measure_t2l}
