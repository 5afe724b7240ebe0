"""The performance targets, judged on a run's results: pass, miss, or not measured.

The benchmark reports; it never fails on a timing. A target needs its length in the run (within a
factor of 1.5 of the named length); otherwise it reads "not measured" and says what is missing.
"""

from __future__ import annotations

from typing import Any

NEAR = 1.5


def _row(rows: list[dict], length: int, need: str | None = None) -> dict | None:
    """The row whose length is nearest ``length`` (within a factor NEAR), optionally having ``need``."""
    ok = [r for r in rows if length / NEAR <= r["length"] <= length * NEAR and (need is None or need(r))]
    return min(ok, key=lambda r: abs(r["length"] - length), default=None)


def _target(key: str, goal: str, value: float | None, ok: bool | None, detail: str) -> dict[str, Any]:
    status = "not measured" if value is None else ("pass" if ok else "miss")
    return {"id": key, "target": goal, "value": value, "status": status, "detail": detail}


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    update = results.get("update", {}).get("rows", [])
    query = results.get("query", {}).get("rows", [])
    state = results.get("state", {}).get("rows", [])

    r = _row(update, 1024, lambda r: r["ratios"]["cd_over_d2l"] is not None)
    v = r["ratios"]["cd_over_d2l"] if r else None
    out.append(_target("cd_over_d2l_1k", "CD / D2L update latency >= 50x at 1K", v, v is not None and v >= 50,
                       f"at {r['length']} tokens, CD {r['cd']['steps']} steps; ~{r['ratios']['cd_steps_for_50x']:.0f} "
                       "steps would reach 50x" if r else "needs a ~1024-token length with CD in the update section"))

    ratios = [(x["length"], x["ratios"]["d2l_over_prefill"]) for x in update if x["ratios"]["d2l_over_prefill"]]
    worst = max(ratios, key=lambda t: t[1], default=None)
    out.append(_target("d2l_over_prefill", "D2L internalize <= 1.3x one prefill (every length)",
                       worst[1] if worst else None, worst is not None and worst[1] <= 1.3,
                       ("; ".join(f"{n}: {x:.2f}x" for n, x in ratios)) if ratios else "needs the update section"))

    r = _row(query, 8192)
    v = r["ratios"]["in_context_over_d2l"]["full"] if r else None
    detail = "needs a ~8192-token length in the query section"
    if r:
        ttft = r["ratios"]["in_context_over_d2l"]["ttft"]
        detail = (f"full answer at {r['length']} tokens (TTFT ratio {ttft:.1f}x); "
                  f"in-context kept {r['in_context']['document_tokens_kept']} document tokens")
    out.append(_target("in_context_over_d2l_8k", "in-context / D2L query latency >= 10x at 8K", v,
                       v is not None and v >= 10, detail))

    short, long_ = _row(query, 1024), _row(query, 32768)
    v = long_["d2l"]["full"]["median_s"] / short["d2l"]["full"]["median_s"] if short and long_ else None
    detail = "needs ~1024 and ~32768 in the query section"
    if v is not None:
        detail = (f"full answer, {long_['length']} vs {short['length']} tokens (adapter rank "
                  f"{long_['d2l']['rank']} vs {short['d2l']['rank']})")
    out.append(_target("d2l_query_32k_over_1k", "D2L query latency at 32K within 1.2x of 1K", v,
                       v is not None and v <= 1.2, detail))

    r = _row(state, 32768)
    if r:
        forms = r["kv_over_adapter"]
        best = max(("fp32", "fp16", "int8_rows"), key=lambda f: forms[f])
        v = forms[best]
        detail = (f"KV fp16 / adapter at {r['length']} tokens: fp32 {forms['fp32']:.1f}x, fp16 {forms['fp16']:.1f}x, "
                  f"int8_rows {forms['int8_rows']:.1f}x (value = {best})")
    else:
        v, detail = None, "needs a ~32768-token length in the state section"
    out.append(_target("adapter_vs_kv_32k", "adapter bytes <= 1/50 of fp16 KV cache at 32K", v,
                       v is not None and v >= 50, detail))

    b = results.get("batch")
    v = b["ratios"]["batched_over_one_by_one"] if b else None
    out.append(_target("batched_throughput", "batched 8-adapter throughput >= 4x one by one", v,
                       v is not None and v >= 4,
                       f"{b['batch']} requests, {b['new_tokens']} tokens each" if b else "needs the batch section"))

    t = results.get("t2l")
    v = t["ratios"]["tokens_three_shot_over_t2l"] if t else None
    out.append(_target("t2l_tokens", "T2L >= 4x fewer prompt tokens per query than 3-shot", v,
                       v is not None and v >= 4,
                       (f"{t['prompt_tokens_per_query']['three_shot']:.0f} vs "
                        f"{t['prompt_tokens_per_query']['t2l_incl_description_amortised']:.0f} tokens "
                        f"(description amortised over {t['queries']}; "
                        f"{t['ratios']['tokens_three_shot_over_t2l_excl_template']:.1f}x without the "
                        f"{t['prompt_tokens_per_query']['chat_template_overhead']}-token chat template); time ratio "
                        f"{t['ratios']['time_three_shot_over_t2l_amortised']:.2f}x") if t else "needs the t2l section"))
    return out
