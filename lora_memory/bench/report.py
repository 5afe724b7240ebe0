"""Writing a run: results.json, PNG figures and summary.md (a markdown table per section)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

MB = 1e6


def _clean(obj: Any) -> Any:
    """JSON-safe: non-finite floats become None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_json(results: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(_clean(results), indent=2))
    return path


# ---- figures ---------------------------------------------------------------------------------
def _plain_log(ax, y: bool = True) -> None:
    """Log axes labelled with plain numbers (1000, 0.5; minor ticks too on short ranges)."""
    for axis in [ax.xaxis, ax.yaxis] if y else [ax.xaxis]:
        axis.set_major_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
        axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_update(update: dict[str, Any], path: Path) -> Path:
    rows = update["rows"]
    fig, ax = plt.subplots(figsize=(5.6, 4))
    for key, label in (("d2l", "D2L internalize"), ("prefill", "prefill"), ("rag_index", "RAG index"),
                       ("cd", "context distillation")):
        pts = [(r["tokens"], r[key]["median_s"]) for r in rows if "median_s" in r[key]]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("document tokens")
    ax.set_ylabel("seconds (median)")
    ax.set_title("Update latency vs document length")
    _plain_log(ax)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_query(query: dict[str, Any], path: Path) -> Path:
    rows = query["rows"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for method in query["methods"]:
        xs = [r["tokens"] for r in rows]
        axes[0].plot(xs, [r[method]["ttft"]["median_s"] for r in rows], marker="o", label=method)
        axes[1].plot(xs, [r[method]["full"]["median_s"] for r in rows], marker="o", label=method)
        axes[2].plot(xs, [(r[method]["peak_bytes"] or 0) / MB for r in rows], marker="o", label=method)
    titles = ("query: time to first token", f"query: full answer ({query['new_tokens']} tokens)",
              "query: peak memory added")
    for ax, title, ylabel in zip(axes, titles, ("seconds", "seconds", "MB")):
        ax.set_xscale("log")
        ax.set_xlabel("document tokens")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    for i, ax in enumerate(axes):
        _plain_log(ax, y=i < 2)
    return _save(fig, path)


def plot_state(state: dict[str, Any], path: Path) -> Path:
    rows = state["rows"]
    xs = [r["tokens"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.6, 4))
    for form in ("fp32", "fp16", "int8_rows"):
        ax.plot(xs, [r["adapter_bytes"][form] for r in rows], marker="o", label=f"adapter {form}")
    ax.plot(xs, [r["kv_cache_bytes_fp16"] for r in rows], marker="s", color="black", label="KV cache fp16")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("document tokens")
    ax.set_ylabel("bytes")
    ax.set_title("State size vs document length")
    _plain_log(ax, y=False)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


# ---- markdown --------------------------------------------------------------------------------
def _f(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def summary_markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = ["# lora-memory bench", ""]
    lines.append(f"{m['device']}, {m['processor']}, {m['cpus_usable']} usable CPUs, {m['threads']} torch threads; "
                 f"torch {m['torch']}, transformers {m['transformers']}; backbone {results['backbone']['name']} "
                 f"(window {results['backbone']['context_window']}); D2L {results['hypernets']['doc2lora']}.")
    load = m.get("load_average")
    # the end figure counts the bench's own threads; what else ran is the excess over them
    others = max(load[0], m.get("load_average_end", [0])[0] - m["threads"]) if load else 0.0
    if m.get("cpus_usable") and others > 0.5 * m["cpus_usable"]:
        lines.append(f"\n**Contended machine**: load average {load[0]:.1f} (start) / "
                     f"{m.get('load_average_end', [float('nan')])[0]:.1f} (end) on {m['cpus_usable']} CPUs: "
                     "timings are NOT representative.")
    lines.append(f"\nMedian of {results['config']['repeats']} repeat(s) after {results['config']['warmup']} warm-up "
                 "call(s); spread = (max - min) / median.\n")

    lines += ["## Targets", ""]
    lines += _table(["target", "value", "status", "detail"],
                    [[t["target"], _f(t["value"], ".2f"), t["status"].upper() if t["status"] != "not measured" else
                      t["status"], t["detail"]] for t in results["targets"]])

    if "update" in results:
        u = results["update"]
        lines += ["", "## Update latency (seconds)", "", f"Prefill: {u['prefill_mode']}.", ""]
        lines += _table(
            ["tokens", "D2L (chunks)", "prefill (pieces)", f"CD ({u['cd']['steps']} steps)", "RAG index",
             "CD / D2L", "D2L / prefill", "D2L peak MB", "prefill peak MB", "CD peak MB"],
            [[str(r["tokens"]), f"{_f(r['d2l']['median_s'])} ({r['d2l']['chunks']})",
              f"{_f(r['prefill']['median_s'])} ({r['prefill']['pieces']})",
              _f(r["cd"].get("median_s")) if "median_s" in r["cd"] else "n/a (exceeds window)",
              _f(r["rag_index"]["median_s"]), _f(r["ratios"]["cd_over_d2l"], ".1f"),
              _f(r["ratios"]["d2l_over_prefill"], ".2f"), _f((r["d2l"]["peak_bytes"] or 0) / MB, ".0f"),
              _f((r["prefill"]["peak_bytes"] or 0) / MB, ".0f"),
              _f(r["cd"]["peak_bytes"] / MB, ".0f") if r["cd"].get("peak_bytes") is not None else "-"]
             for r in u["rows"]])

    if "query" in results:
        q = results["query"]
        lines += ["", f"## Query latency (TTFT and full answer of {q['new_tokens']} tokens, seconds)", ""]
        body = []
        for r in q["rows"]:
            for method in q["methods"]:
                x = r[method]
                note = ""
                if method == "in_context" and x.get("truncated"):
                    note = f"truncated to {x['document_tokens_kept']} doc tokens"
                elif method == "rag":
                    note = f"{x['chunks_in_prompt']} chunks"
                elif method == "d2l":
                    note = f"rank {x['rank']}"
                ratio = r["ratios"].get(f"{method}_over_d2l", {}).get("full")
                body.append([str(r["tokens"]), method, str(x["prompt_tokens"]), _f(x["ttft"]["median_s"]),
                             _f(x["full"]["median_s"]), _f(ratio, ".2f") if ratio else "1",
                             _f((x["peak_bytes"] or 0) / MB, ".0f"), note])
        lines += _table(["tokens", "method", "prompt tokens", "TTFT", "full", "full / D2L", "peak MB", "note"], body)

    if "state" in results:
        s = results["state"]
        lines += ["", "## State size", ""]
        lines += _table(
            ["tokens", "rank", "fp32 MB", "fp16 MB", "int8 MB", "KV fp16 MB", "KV / fp16", "KV / int8"],
            [[str(r["tokens"]), str(r["rank"]), _f(r["adapter_bytes"]["fp32"] / MB, ".2f"),
              _f(r["adapter_bytes"]["fp16"] / MB, ".2f"), _f(r["adapter_bytes"]["int8_rows"] / MB, ".2f"),
              _f(r["kv_cache_bytes_fp16"] / MB, ".2f"), _f(r["kv_over_adapter"]["fp16"], ".1f"),
              _f(r["kv_over_adapter"]["int8_rows"], ".1f")] for r in s["rows"]])
        qual = s["quality"]
        src = qual.get("synthetic", qual["d2l"])
        which = qual["adapter"]
        if "synthetic" in qual:
            which = "a synthetic adapter of the same shape (the D2L adapter is zero)"
        fp16, int8 = src["fp16"], src["int8_rows"]
        lines.append(f"\nQuality cost on {which}, {qual['prompts']} prompts: max relative logit change fp16 "
                     f"{_f(fp16['max_rel_logits'], '.2e')}, int8 rows {_f(int8['max_rel_logits'], '.2e')} "
                     f"(relative to the adapter's own effect: {_f(int8['max_rel_effect'], '.2e')}; "
                     f"argmax unchanged: {int8['argmax_agree']}).")

    if "batch" in results:
        b = results["batch"]
        lines += ["", f"## Batched multi-adapter serving ({b['batch']} requests x {b['new_tokens']} tokens)", ""]
        lines += _table(["mode", "seconds", "tokens/s"],
                        [[k, _f(b[k]["median_s"]), _f(b["tokens_per_s"][k], ".1f")]
                         for k in ("batched", "batched_no_adapter", "one_by_one")])
        lines.append(f"\nBatched / one by one: {_f(b['ratios']['batched_over_one_by_one'], '.2f')}x; per-sample "
                     f"adapters cost {_f(b['ratios']['adapter_overhead_batched'], '.2f')}x the batched plain model.")

    if "t2l" in results:
        t = results["t2l"]
        tok, sec = t["prompt_tokens_per_query"], t["seconds_per_query"]
        title = f"## Text-to-LoRA vs 3-shot ({t['task']}, {t['queries']} queries, {t['new_tokens']} tokens each)"
        lines += ["", title, ""]
        lines += _table(["method", "prompt tokens / query", "seconds / query"],
                        [["T2L (adaptation amortised)", _f(tok["t2l_incl_description_amortised"], ".1f"),
                          _f(sec["t2l_amortised"], ".4f")],
                         ["3-shot in-context", _f(tok["three_shot"], ".1f"), _f(sec["three_shot"], ".4f")]])
        lines.append(f"\nAdaptation {_f(t['adapt']['median_s'], '.4f')} s (first call "
                     f"{_f(t['adapt']['cold_s'], '.2f')} s, encoder {t['encoder']}); break-even after "
                     f"{_f(t['ratios']['break_even_queries'], '.1f')} queries.")
    return "\n".join(lines) + "\n"


def write_all(results: dict[str, Any], out: Path) -> dict[str, str]:
    """results.json, the figures of the sections that ran, and summary.md; returns their paths."""
    files = {"json": write_json(results, out / "results.json")}
    if "update" in results:
        files["update_plot"] = plot_update(results["update"], out / "update_latency.png")
    if "query" in results:
        files["query_plot"] = plot_query(results["query"], out / "query_latency.png")
    if "state" in results:
        files["state_plot"] = plot_state(results["state"], out / "state_size.png")
    md = out / "summary.md"
    md.write_text(summary_markdown(_clean(results)))
    files["summary"] = md
    return {k: str(v) for k, v in files.items()}
