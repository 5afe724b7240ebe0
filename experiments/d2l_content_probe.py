"""Does a Doc-to-LoRA network store the document's content, or only the answer format?

Scores a run's held-out set (``heldout.json``) with each sample's own adapter against the adapter
of ANOTHER sample of the same kind (a shuffled control): exact match and the gold answer's NLL per
question kind. A network that learned only "reply with a short bare answer" scores the same with
the wrong document; the gap between the two is what the adapters carry of the document. Each
variant runs with the network's surprise rows set to each count of ``--surprise`` (0 = none:
pass the count the run trained with to probe it as trained).

Reproduces BENCHMARKS.md, "Real-text Doc-to-LoRA" (the content probe).

    OMP_NUM_THREADS=2 python -m experiments.d2l_content_probe runs/d2l-real2 --surprise 0,16 \
        --out runs/d2l-real2/probe.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

SECTIONS = ("Real-text Doc-to-LoRA",)  # the BENCHMARKS.md sections this reproduces


def probe(run_dir: Path, checkpoint: Path, surprise: Sequence[int], device: str) -> dict[str, dict[str, float]]:
    """Per surprise-row count, the summaries with own (``surprise{n}_own``) and other documents' adapters."""
    from lora_memory.backbone import Backbone
    from lora_memory.evaluation.qa import answer_samples, likelihood_samples, other_documents, summarize
    from lora_memory.hypernets.checkpoint import load_checkpoint
    from lora_memory.hypernets.doc2lora import internalize
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, cached_heldout

    config = Doc2LoRATrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()) | {"run_dir": str(run_dir)})
    backbone = Backbone.load(config.model, device=device)
    samples = [s for s in cached_heldout(backbone, config)]
    other = other_documents(samples)
    samples = [s for s in samples if id(s) in other]
    net = load_checkpoint(checkpoint, backbone)
    out = {}
    for rows in surprise:
        net.config = dataclasses.replace(net.config, surprise_rows=rows)
        adapters = {id(s): internalize(backbone, net, s.document) for s in samples}
        for name, made in (("own", lambda s: adapters[id(s)]), ("other", lambda s: adapters[id(other[id(s)])])):
            answered = summarize(answer_samples(backbone, samples, "doc2lora", adapter_for=made,
                                                max_new_tokens=32 if config.answer_lead else 16))
            out[f"surprise{rows}_{name}"] = answered | summarize(
                likelihood_samples(backbone, samples, "doc2lora", adapter_for=made))
            print(f"surprise {rows} {name}:", {k: round(v, 3) for k, v in out[f'surprise{rows}_{name}'].items()
                                               if k.endswith(("_exact", "_nll"))}, flush=True)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--checkpoint", type=Path, help="network to probe (default: the run's hypernet.safetensors)")
    parser.add_argument("--surprise", default="0", help="comma-separated surprise-row counts to try")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = [int(r) for r in args.surprise.split(",") if r.strip()]
    result = probe(args.run_dir, args.checkpoint or args.run_dir / "hypernet.safetensors", rows, args.device)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
