"""Peak memory of `internalize` versus document length: chunk batches stream, so it stays bounded.

`internalize` encodes a document's chunks ``batch_size`` at a time, so the backbone's activations
never exceed one batch, whatever the length. What does grow with length is the adapter itself
(its rank is ``chunks x rank``), which is small next to the activations. This script measures, for
each document length, in a fresh process each (so one measurement's freed memory cannot hide the
next one's):

* ``tensor_peak``: peak bytes of live tensors during the call: on CPU, from the allocator's
  events as the PyTorch profiler records them (temporaries inside kernels included); on CUDA,
  ``torch.cuda.max_memory_allocated``;
* ``rss_peak``: the process's peak resident memory during the call, above its resident memory
  just before (Linux: VmHWM reset through /proc/self/clear_refs; elsewhere ``ru_maxrss``);
* ``py_peak``: peak of Python objects (``tracemalloc``): token id lists and the like;
* ``adapter``: size of the adapter produced (fp32).

Pass ``--batch-size 0`` to encode all chunks at once (no streaming), for comparison.

Run from the repository root:

    .venv/bin/python examples/measure_stream_memory.py                     # embedded SmolLM2-135M, 1K..64K tokens
    .venv/bin/python examples/measure_stream_memory.py --tokens 1024 8192 --batch-size 0
    .venv/bin/python examples/measure_stream_memory.py --model DIR --random-weights  # a config's shapes, random weights
    .venv/bin/python examples/measure_stream_memory.py --model tiny --tokens 2048 16384 --chunk-tokens 128

The embedded model's weights are not needed to measure memory: ``--random-weights`` builds the
same architecture from a directory's config.json (and tokenizer) with random weights, which
allocates exactly the same tensors.

Measured on CPU (embedded SmolLM2-135M, fresh fast-weight doc2lora: 512-token chunks, rank 8 on
15 layers; one thread), MB:

    tokens  batch  tensor peak  RSS peak  RSS peak, MALLOC_MMAP_THRESHOLD_=131072  adapter
      1024      4        113.5     127.7                                        -      1.9
      8192      4        246.1     504.4                                    247.4     15.5
     65536      4        354.4    1059.0                                    358.2    123.8
      8192  all 16       906.4    1397.4                                        -     15.5

From 8K to 64K tokens the tensor peak grows by the adapter's own growth (108 MB) and no more;
without streaming, 8K tokens alone peak at 906 MB. The plain RSS peak grows further because
glibc keeps freed activation blocks in its heap (its mmap threshold rises after the first large
free); with a fixed threshold RSS follows the tensors.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from lora_memory import Backbone  # noqa: E402
from lora_memory.hypernets import fresh, internalize  # noqa: E402
from lora_memory.hypernets.doc2lora import DocToLoRA  # noqa: E402

DEFAULT_TOKENS = (1024, 2048, 4096, 8192, 16384, 32768, 65536)


# ---- measuring -------------------------------------------------------------------------------
def peak_tensor_bytes(fn: Callable[[], Any], device: torch.device | str = "cpu") -> tuple[Any, int]:
    """Run ``fn``; return its result and the peak bytes of tensors allocated during the call.

    Counts only what the call allocates (tensors that exist before it are the baseline).
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = fn()
        torch.cuda.synchronize(device)
        return result, torch.cuda.max_memory_allocated(device) - base
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    sizes: list[tuple[int, int]] = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            sizes.append((node.start_time_ns, node.extra_fields.alloc_size))
    current = peak = 0
    for _, size in sorted(sizes):
        current += size
        peak = max(peak, current)
    return result, peak


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_bytes(fn: Callable[[], Any]) -> tuple[Any, int, str]:
    """Run ``fn``; return its result, the peak resident memory above the resident memory before it, and the method."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        before = _status_kb("VmRSS")
        result = fn()
        peak = _status_kb("VmHWM")
        if before is not None and peak is not None:
            return result, (peak - before) * 1024, "VmHWM"
    except OSError:
        pass
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = fn()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return result, (after - before) * 1024, "ru_maxrss (not resettable: a lower bound)"


def make_document(backbone: Backbone, tokens: int) -> str:
    """Deterministic, varied text of about ``tokens`` tokens."""
    colours = ["red", "green", "blue", "amber", "violet", "grey", "white"]
    things = ["lamp", "ledger", "valve", "kettle", "compass", "drawer", "engine", "window"]

    def sentence(i: int) -> str:
        return f"Entry {i}: the {colours[i % 7]} {things[i % 8]} in room {i % 97} has code {(i * 7919) % 100000}. "

    per = max(1.0, len(backbone.tokenize("".join(sentence(i) for i in range(50)))) / 50)
    text = "".join(sentence(i) for i in range(int(tokens / per * 1.05) + 2))
    ids = backbone.tokenize(text)[:tokens]
    return backbone.tokenizer.decode(ids)


def measure(backbone: Backbone, hypernet: DocToLoRA, text: str, batch_size: int) -> dict[str, Any]:
    """One measurement: tensor peak, RSS peak, Python peak, time and adapter size."""
    chunks = -(-len(backbone.tokenize(text)) // hypernet.chunk_tokens)
    batch = batch_size or chunks  # 0: every chunk in one batch (no streaming)

    def run():
        return internalize(backbone, hypernet, text, batch_size=batch)

    internalize(backbone, hypernet, text[:200], batch_size=batch)  # warm-up: lazy initialisation is not the document's cost
    # Two runs: resident and Python memory together (tracemalloc's own records are small), then
    # tensors under the profiler (whose event records would inflate the resident figure).
    tracemalloc.start()
    start = time.perf_counter()
    _, rss, rss_method = peak_rss_bytes(run)
    seconds = time.perf_counter() - start
    py_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    adapter, tensor_peak = peak_tensor_bytes(run, backbone.device)
    return {
        "tokens": int(adapter.metadata["tokens"]),
        "chunks": int(adapter.metadata["chunks"]),
        "batch_size": batch,
        "tensor_peak": tensor_peak,
        "rss_peak": rss,
        "rss_method": rss_method,
        "py_peak": py_peak,
        "adapter": adapter.nbytes,
        "adapter_rank": adapter.rank(),
        "seconds": seconds,
        "device": str(backbone.device),
    }


# ---- models ----------------------------------------------------------------------------------
def load_models(model: str, random_weights: bool, device: str | None, chunk_tokens: int | None, seed: int = 0):
    """The backbone and a fresh (untrained) doc2lora; memory does not depend on trained weights."""
    if model == "tiny":
        sys.path.insert(0, str(ROOT))
        from tests.conftest import make_tiny_backbone

        backbone = make_tiny_backbone()
        if device:
            backbone.model.to(device)
    elif random_weights:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        config = AutoConfig.from_pretrained(model)
        torch.manual_seed(seed)
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.float32 if dev.type == "cpu" else torch.bfloat16
        lm = AutoModelForCausalLM.from_config(config, dtype=dtype).to(dev)
        backbone = Backbone(lm, AutoTokenizer.from_pretrained(model), name=f"{config.name_or_path or model} (random weights)")
    else:
        backbone = Backbone.load(None if model == "embedded" else model, device=device)
    kw = {"chunk_tokens": chunk_tokens} if chunk_tokens else {}
    net = fresh("doc2lora", backbone, seed=seed, **kw)
    with torch.no_grad():
        net.b_scale.fill_(1.0)  # nonzero B, as a trained network has: the adapter is really computed
    return backbone, net


# ---- command line --------------------------------------------------------------------------------
def _one(args) -> dict[str, Any]:
    backbone, net = load_models(args.model, args.random_weights, args.device, args.chunk_tokens)
    text = make_document(backbone, args.tokens[0])
    return measure(backbone, net, text, args.batch_size)


def _mb(n: float) -> str:
    return f"{n / 2**20:9.1f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded", help="embedded, tiny, or a model directory / hub id")
    parser.add_argument("--random-weights", action="store_true", help="build --model's architecture with random weights")
    parser.add_argument("--tokens", type=int, nargs="+", default=list(DEFAULT_TOKENS))
    parser.add_argument("--batch-size", type=int, default=4, help="chunks per backbone pass; 0 = all at once")
    parser.add_argument("--chunk-tokens", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--in-process", action="store_true", help="measure in this process (default: one process each)")
    args = parser.parse_args(argv)

    if args.in_process and len(args.tokens) == 1:
        print(json.dumps(_one(args)))
        return
    rows = []
    print(f"{'tokens':>7} {'chunks':>6} {'batch':>5} {'tensor peak MB':>15} {'RSS peak MB':>12} {'python MB':>10} {'adapter MB':>11} {'s':>7}")
    for tokens in args.tokens:
        cmd = [sys.executable, __file__, "--in-process", "--tokens", str(tokens), "--model", args.model]
        cmd += ["--batch-size", str(args.batch_size)]
        cmd += ["--random-weights"] if args.random_weights else []
        cmd += ["--chunk-tokens", str(args.chunk_tokens)] if args.chunk_tokens else []
        cmd += ["--device", args.device] if args.device else []
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"measuring {tokens} tokens failed:\n{done.stderr[-4000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{row['tokens']:>7} {row['chunks']:>6} {row['batch_size']:>5} {_mb(row['tensor_peak']):>15} "
            f"{_mb(row['rss_peak']):>12} {_mb(row['py_peak']):>10} {_mb(row['adapter']):>11} {row['seconds']:7.1f}",
            flush=True,
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"{last['tokens'] / first['tokens']:.0f}x the tokens: tensor peak x{last['tensor_peak'] / first['tensor_peak']:.2f}, "
            f"RSS peak x{last['rss_peak'] / max(first['rss_peak'], 1):.2f} ({rows[0]['rss_method']}), on {rows[0]['device']}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
