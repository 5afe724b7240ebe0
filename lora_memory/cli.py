"""The ``lora-memory`` command line: a thin layer that parses arguments and calls the library.

Every mistake a user can make (a bad argument, an unreadable input, an output that would overwrite
something, a library error) ends as one line ``error: ...`` on stderr and exit status 2; an output
folder that already holds an adapter or other files is written only with ``--force``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import torch

from lora_memory import embedded
from lora_memory.backbone import Backbone
from lora_memory.config import add_config_args, config_from_args
from lora_memory.errors import LoraMemoryError, PromptTooLongError, QuestionError, require_text
from lora_memory.files import read_regular
from lora_memory.generation import answer, in_context_question
from lora_memory.hypernets import (
    card_path,
    convert_doc2lora,
    convert_text2lora,
    describe_task,
    internalize,
    load_checkpoint,
    load_default,
    read_header,
    ship,
    shipped_checkpoint,
)
from lora_memory.hypernets.base import Hypernetwork
from lora_memory.memory import ParametricMemory
from lora_memory.peft_io import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, export_peft, import_peft
from lora_memory.training import archive


class UsageError(LoraMemoryError):
    """A command-line argument that cannot work: an unreadable input, an output that exists."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def read_input(path: str) -> str:
    """A UTF-8 text file's contents; anything else is a `UsageError` that says what it is."""
    try:
        data = read_regular(path)  # a FIFO or device is refused, not read
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist: give the document's file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}; give a UTF-8 text file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not UTF-8 text (byte {exc.start} is {data[exc.start:exc.start + 1]!r}): give a text file, "
            "or convert it to UTF-8 first"
        ) from None


def check_output(output: str, force: bool, inputs: Sequence[str] = ()) -> None:
    """Refuse an output folder that would overwrite a file, an input, or (without ``force``) anything."""
    out = Path(output)
    ours = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE)
    for source in inputs:
        if Path(source).resolve() in {out.resolve(), *(out.resolve() / name for name in ours)}:
            raise UsageError(f"the output {output} would overwrite the input {source}: give another -o folder")
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"the output {output} is a file, not a folder: give a new folder for the adapter (-o)")
    held = sorted(p.name for p in out.iterdir())
    if held and not force:
        what = "holds a PEFT adapter" if set(held) & {CONFIG_FILE, WEIGHTS_FILE} else "is a folder that is not empty"
        raise UsageError(
            f"the output {output} {what} ({', '.join(held[:4])}{' ...' if len(held) > 4 else ''}): give a new or "
            f"empty folder, or pass --force to write {', '.join(ours)} into it (other files are left alone)"
        )


def _timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    print(f"[{time.perf_counter() - start:6.2f} s] {label}")
    return result


def _backbone(args: argparse.Namespace) -> Backbone:
    return _timed(f"loaded backbone {args.model or embedded.DEFAULT_MODEL_NAME}", Backbone.load, args.model, device=args.device)


def _hypernet(kind: str, args: argparse.Namespace, backbone: Backbone) -> Hypernetwork:
    if args.checkpoint:
        net = load_checkpoint(args.checkpoint, backbone, kind=kind)
    else:
        net = load_default(kind, backbone)
    if not net.card.get("untrained"):  # an untrained network is announced by load_default's warning
        print(f"{kind}: {args.checkpoint or shipped_checkpoint(kind)} ({net.arch}, {net.num_parameters:,} parameters)")
    return net


def cmd_internalize(args: argparse.Namespace) -> None:
    text = read_input(args.file)
    check_output(args.output, args.force, [args.file])
    backbone = _backbone(args)
    net = _hypernet("doc2lora", args, backbone)
    adapter = _timed(
        "internalized", internalize, backbone, net, text, chunk_tokens=args.chunk_tokens, progress=True
    )
    adapter = dataclasses.replace(adapter, metadata={**adapter.metadata, "source": str(args.file)})
    export_peft(adapter, backbone, args.output, pad_for_vllm=args.pad_for_vllm)
    print(
        f"wrote PEFT adapter to {args.output}: {adapter.metadata['tokens']} tokens in "
        f"{adapter.metadata['chunks']} chunk(s), rank {adapter.rank()}, {adapter.nbytes / 1e6:.2f} MB"
    )


def cmd_ask(args: argparse.Namespace) -> None:
    require_text(args.question, "question", QuestionError)
    backbone = _backbone(args)
    adapter = import_peft(args.adapter, backbone, strict_name=args.strict_name)
    reply = _timed("answered", answer, backbone, args.question, adapter, max_new_tokens=args.max_new_tokens)
    print(reply)


def cmd_adapt(args: argparse.Namespace) -> None:
    check_output(args.output, args.force)
    backbone = _backbone(args)
    net = _hypernet("text2lora", args, backbone)
    adapter = _timed("generated task adapter", describe_task, backbone, net, args.description)
    export_peft(adapter, backbone, args.output, pad_for_vllm=args.pad_for_vllm)
    print(f"wrote PEFT adapter to {args.output}: modules {', '.join(adapter.modules)}, rank {adapter.rank()}")


def cmd_train(args: argparse.Namespace) -> None:
    run_dir = args.run(config_from_args(args.config_class, args))
    print(f"run directory: {run_dir} (rerun the same command to resume)")


def cmd_eval(args: argparse.Namespace) -> None:
    config = config_from_args(args.config_class, args)
    backbone = _backbone(args)
    net = _hypernet(args.recipe, args, backbone)
    results = args.run(config, backbone, net)
    shown = ("summary", "niah_by_length", "facts", "seconds")
    print(json.dumps({k: results[k] for k in shown if k in results}, indent=2))
    print(f"results and figures in {config.out}")


def cmd_bench(args: argparse.Namespace) -> None:
    from lora_memory.bench import BenchConfig, run_bench

    config = config_from_args(BenchConfig, args)
    backbone = _backbone(args)
    net = _hypernet("doc2lora", args, backbone)
    results = run_bench(config, backbone, net)
    print(Path(results["files"]["summary"]).read_text())
    print(f"results and figures in {config.out}")


def merged_evaluation(paths: Sequence[str]) -> dict | None:
    """The card's summary of one or more eval results.json files (an evaluation run in parts).

    Cells are merged by method and length (or score): a cell two parts both measured takes the
    later part's value, so a rerun of some lengths updates them and keeps the others. Real-document
    scores go in without their records, under ``real_documents`` (or ``real_documents_<set>`` for
    another ``real_set`` than the software documents).
    """
    evaluation: dict = {}
    for path in paths:
        results = json.loads(Path(path).read_text())
        real_set = (results.get("config") or {}).get("real_set", "software")
        real_key = "real_documents" if real_set == "software" else f"real_documents_{real_set}"
        results[real_key] = {method: {k: v for k, v in scores.items() if k != "records"}
                             for method, scores in (results.pop("real_documents", None) or {}).items()}
        for key in ("niah_by_length", "facts", "cd", "summary", real_key):
            part = evaluation.setdefault(key, {})
            for name, value in (results.get(key) or {}).items():
                merge = isinstance(value, dict) and isinstance(part.get(name), dict)
                part[name] = {**part[name], **value} if merge else value
    return {k: v for k, v in evaluation.items() if v} or None


def cmd_ship(args: argparse.Namespace) -> None:
    evaluation = merged_evaluation(args.eval or [])
    target = ship(args.checkpoint, evaluation, args.eval_command or "", args.notes or "")
    print(f"shipped {args.checkpoint} as {target} (card: {card_path(read_header(target)['kind'])})")


def cmd_pack(args: argparse.Namespace) -> None:
    out = archive.pack(args.run_dir, args.output, moments=args.moments)
    print(f"packed {args.run_dir} -> {out} ({out.stat().st_size / 1e6:.1f} MB); continue it with "
          f"`lora-memory train <recipe> --run-dir NEW_DIR --resume-from {out}` and the run's flags")


def cmd_convert_upstream(args: argparse.Namespace) -> None:
    out = Path(args.output)
    if Path(args.path).resolve() == out.resolve():
        raise UsageError(f"the output {args.output} would overwrite the input: give another -o file")
    if out.exists() and not args.force:
        raise UsageError(f"the output {args.output} exists: give a new file, or pass --force to replace it")
    if args.kind == "doc2lora":
        target = convert_doc2lora(args.path, out, base=args.base_model)
    else:
        target = convert_text2lora(args.path, out, base=args.base_model, description_encoder=args.description_encoder)
    header = read_header(target)
    print(f"converted {args.path} -> {target} ({header['arch']}, for {header['base_model']['name']})")


def cmd_info(args: argparse.Namespace) -> None:
    print(f"torch {torch.__version__}; CUDA available: {torch.cuda.is_available()}")
    print(f"cache: {embedded.cache_root()}")
    backbone = _backbone(args)
    ident = backbone.identity
    print(
        f"backbone: {ident.name} ({ident.model_type}, {ident.num_layers} layers, hidden {ident.hidden_size}) "
        f"on {backbone.device} in {backbone.dtype}"
    )
    for kind in ("doc2lora", "text2lora"):
        path = shipped_checkpoint(kind)
        if path is None:
            print(f"{kind}: no shipped checkpoint (a fresh, untrained network will be used)")
            continue
        header = read_header(path)
        fits = header["base_model"]["name"] == backbone.name
        print(f"{kind}: {path} ({header['arch']}, for {header['base_model']['name']}{'' if fits else ', NOT this backbone'})")


def cmd_demo(args: argparse.Namespace) -> None:
    data = resources.files("lora_memory") / "data"
    document = (data / "example.md").read_text(encoding="utf-8")
    questions = json.loads((data / "example_questions.json").read_text(encoding="utf-8"))
    backbone = _backbone(args)
    net = _timed("loaded doc2lora hypernetwork", _hypernet, "doc2lora", args, backbone)
    with ParametricMemory(backbone=backbone, doc2lora=net) as memory:  # a temporary store
        _timed("stored the example document in a ParametricMemory", memory.add, document, id="example")
        report = memory.memory_report()
        print(f"memory: {report['tokens']} tokens -> {len(memory.segments('example'))} segment adapters, "
              f"{report['adapter_bytes'] / 1e6:.2f} MB stored, {1 / report['ratio']:.2f}x the fp16 KV cache of "
              f"the text ({report['kv_cache_bytes_fp16'] / 1e6:.2f} MB)")
        for item in questions:
            print(f"\nQ: {item['question']}   (expected: {item['answer']})")
            reply = _timed("answer from the memory (document NOT in the prompt)", memory.ask, item["question"])
            where = ", ".join(f"segment {position + 1}" for _, position in reply.segments)
            print(f"   memory:     {reply.answer}   [{where}; confidence {reply.confidence:+.2f}]")
            in_context = in_context_question(document, item["question"])
            try:
                text = _timed("answer with the document in the prompt (reference)", answer, backbone, in_context)
            except PromptTooLongError as exc:  # a backbone with a short window: the memory still answers
                text = f"(not run: {exc})"
            print(f"   in-context: {text}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lora-memory", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", help="base model: hub id or local directory (default: embedded SmolLM2-135M-Instruct)")
    common.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    common.add_argument("--checkpoint", help="hypernetwork checkpoint (default: the one shipped for the model)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("internalize", parents=[common], help="document -> PEFT adapter folder")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help="a new or empty folder for the PEFT adapter")
    p.add_argument("--force", action="store_true", help="write into an existing folder, overwriting an adapter there")
    p.add_argument("--chunk-tokens", type=positive_int, default=None,
                   help="tokens per chunk (default: the checkpoint's)")
    p.add_argument("--pad-for-vllm", action="store_true", help="zero-pad the rank to a size vLLM serves")
    p.set_defaults(func=cmd_internalize)

    p = sub.add_parser("ask", parents=[common], help="answer a question with an adapter applied")
    p.add_argument("adapter")
    p.add_argument("question")
    p.add_argument("--max-new-tokens", type=positive_int, default=64)
    p.add_argument("--no-strict-name", dest="strict_name", action="store_false",
                   help="accept an adapter whose config names another base model of the same shapes")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("adapt", parents=[common], help="task description -> PEFT adapter folder")
    p.add_argument("description")
    p.add_argument("-o", "--output", required=True, help="a new or empty folder for the PEFT adapter")
    p.add_argument("--force", action="store_true", help="write into an existing folder, overwriting an adapter there")
    p.add_argument("--pad-for-vllm", action="store_true")
    p.set_defaults(func=cmd_adapt)

    from lora_memory.evaluation import doc2lora_eval, text2lora_eval
    from lora_memory.training import doc2lora, text2lora

    recipes = {
        "train": {
            "doc2lora": ("Doc-to-LoRA meta-training (resumable)", doc2lora.Doc2LoRATrainConfig, doc2lora.train),
            "text2lora": ("Text-to-LoRA SFT on the task corpus (resumable)", text2lora.Text2LoRATrainConfig,
                          text2lora.train),
        },
        "eval": {
            "doc2lora": ("NIAH, fact QA, long real-prose documents: doc2lora vs in-context, RAG, no-context",
                         doc2lora_eval.Doc2LoRAEvalConfig, doc2lora_eval.evaluate_doc2lora),
            "text2lora": ("held-out tasks: T2L vs base, description, 3-shot, multi-task LoRA, garbage",
                          text2lora_eval.Text2LoRAEvalConfig, text2lora_eval.evaluate_text2lora),
        },
    }
    for command, table in recipes.items():
        group = sub.add_parser(command, help=f"{command} a hypernetwork").add_subparsers(dest="recipe", required=True)
        for name, (help_text, config_class, run) in table.items():
            p = group.add_parser(name, help=help_text)
            add_config_args(p, config_class)
            p.set_defaults(func=cmd_train if command == "train" else cmd_eval, config_class=config_class, run=run)

    p = sub.add_parser("bench", help="measure D2L / T2L against prefill, CD, in-context and RAG, side by side")
    from lora_memory.bench import BenchConfig

    add_config_args(p, BenchConfig)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ship", help="make a trained checkpoint the package default, with its JSON card")
    p.add_argument("checkpoint", help="a trained checkpoint, e.g. runs/NAME/best.safetensors")
    p.add_argument("--eval", action="append", help="results.json of its `lora-memory eval` run, summarised into "
                   "the card; repeat it for a run made in parts")
    p.add_argument("--eval-command", help="the command(s) that produced --eval, recorded in the card")
    p.add_argument("--notes", help="what the checkpoint header cannot say (e.g. the runs a warm start continued)")
    p.set_defaults(func=cmd_ship)

    p = sub.add_parser("pack", help="a training run directory -> one resumable safetensors file")
    p.add_argument("run_dir", help="the run directory (its hypernet.safetensors and trainer_state.safetensors)")
    p.add_argument("output", help="the .safetensors file to write")
    p.add_argument("--moments", choices=archive.MOMENTS, default="float32",
                   help="dtype the optimizer's moments are stored in: bfloat16 halves them (the network stays "
                   "exact; a resumed run's moments carry the rounding)")
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser("convert-upstream", help="a Sakana AI Doc-to-LoRA pytorch_model.bin or Text-to-LoRA "
                       "hypermod.pt -> our checkpoint (read without running code from the pickle)")
    p.add_argument("path", help="the upstream file: pytorch_model.bin (doc2lora), or hypermod.pt with its "
                   "args.yaml and adapter_config.json beside it (text2lora)")
    p.add_argument("--kind", choices=["doc2lora", "text2lora"], default="doc2lora",
                   help="which upstream network the file holds (default: doc2lora)")
    p.add_argument("-o", "--output", required=True, help="the .safetensors checkpoint to write")
    p.add_argument("--base-model", help="directory or cached hub id of the base model (default: the name in "
                   "the file); the backbone you load later must have this name")
    p.add_argument("--description-encoder", help="text2lora: directory (or cached hub id) of the description "
                   "encoder, in place of the one args.yaml names (gte-large-en-v1.5 for the published networks)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_convert_upstream)

    p = sub.add_parser("info", parents=[common], help="backbone, device and checkpoints found")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", parents=[common], help="store the bundled example in a ParametricMemory and answer two questions "
                       "from its adapters, beside the answers with the document in the prompt")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status: 0, or 2 after printing ``error: ...`` (argparse's own
    usage errors included)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed "usage: ... error: ..." (or --help)
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    try:
        args.func(args)
    except (LoraMemoryError, OSError) as exc:  # OSError: a disk full, a folder without write permission
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
