"""Issue 25: Sakana AI's Doc-to-LoRA checkpoints, converted safely and run exactly.

* the restricted unpickler rebuilds tensors, containers and the upstream config records, and
  refuses anything else before it runs (a file whose pickle calls ``os.system`` leaves no trace);
* parity: tests/fixtures/upstream_d2l_parity.safetensors holds the upstream forward (re-implemented
  from the released source by tests/fixtures/make_upstream_d2l_parity.py) on fixed inputs; the
  converted network gives the same A, B and per-document update within 1e-5 (fp32);
* the features: the block inputs, the last through the final norm, are what upstream's context
  encoder (the model cut before its last block, ``output_hidden_states``) returns;
* use: ParametricMemory answers with a converted checkpoint, and the PEFT export of its adapters
  gives the logits of our own application; the CLI converts and refuses what it must.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict

import pytest
import torch
from peft import PeftModel
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from lora_memory import AdapterBatch, Backbone, BaseModelMismatchError, CheckpointError, ParametricMemory, export_peft
from lora_memory.cli import main as cli_main
from lora_memory.errors import LoraMemoryError, UnsafePickleError, UpstreamFormatError
from lora_memory.hypernets import load_checkpoint
from lora_memory.hypernets.doc2lora import ChunkFeatures, assemble, encode_chunks
from lora_memory.hypernets.upstream import convert_doc2lora
from lora_memory.safe_unpickle import UpstreamRecord, read_torch_archive
from lora_memory.testing import (
    random_upstream_doc2lora,
    random_upstream_text2lora,
    write_upstream_doc2lora,
    write_upstream_text2lora,
)
from tests.fixtures.make_upstream_d2l_parity import OUT as FIXTURE
from tests.test_memory import HashEncoder

TOLERANCE = 1e-5


# ---- the restricted unpickler ------------------------------------------------------------------
class _RunsCode:
    """Unpickling this runs a shell command (what ``torch.load(weights_only=False)`` would do)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Evaluates:
    def __reduce__(self):
        return (eval, ("open('/dev/null')",))


def _zip_with_pickle(path, payload: bytes):
    """A torch.save-shaped archive whose data.pkl is ``payload``."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")
    return path


def test_plain_state_is_rebuilt(tmp_path):
    state = OrderedDict(w=torch.randn(3, 4), t=torch.randn(4, 3).T, i=torch.arange(5), h=torch.randn(2).half(),
                        p=torch.nn.Parameter(torch.ones(2)), meta={"s": {1, 2}, "x": (1, "a", None, 2.5)})
    torch.save(state, tmp_path / "s.pt")
    back = read_torch_archive(tmp_path / "s.pt")
    assert list(back) == list(state)
    for key in "wtihp":
        assert torch.equal(back[key], state[key].detach()) and back[key].dtype == state[key].dtype
    assert back["meta"] == state["meta"]


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path, protocol):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "pytorch_model.bin"
    torch.save({"x": _RunsCode(f"touch {sentinel}"), "w": torch.ones(2)}, path, pickle_protocol=protocol)
    with pytest.raises(UnsafePickleError, match="system") as err:
        convert_doc2lora(path, tmp_path / "out.safetensors", base=None)
    assert isinstance(err.value, LoraMemoryError)
    assert not sentinel.exists(), "the pickle ran its command"
    assert not (tmp_path / "out.safetensors").exists()
    # the same pickle read by the real thing does run: the test can fail
    with zipfile.ZipFile(path) as z:
        payload = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    with pytest.raises(pickle.UnpicklingError):  # the tensor's storage is missing, but the command ran before
        pickle.loads(payload)
    assert sentinel.exists()


@pytest.mark.parametrize("payload", [
    pickle.dumps(_Evaluates(), protocol=2),
    pickle.dumps({"w": OrderedDict, "f": print}, protocol=4),  # a class or function handed back, not called
    b"\x80\x02cbuiltins\ngetattr\nq\x00.",  # GLOBAL for a builtin that is not on the list
    b"\x80\x02csubprocess\nPopen\nq\x00.",
], ids=["eval", "functions", "getattr", "popen"])
def test_anything_off_the_table_is_refused_by_name(tmp_path, payload):
    with pytest.raises(UnsafePickleError, match="refused"):
        read_torch_archive(_zip_with_pickle(tmp_path / "x.bin", payload))


def test_a_record_with_constructor_arguments_or_a_foreign_persistent_id_is_refused(tmp_path):
    newobj_args = b"\x80\x02cctx_to_lora.configs\nCtxEncoderArguments\nq\x00K\x01\x85q\x01\x81q\x02."
    with pytest.raises(UnsafePickleError, match="constructor"):
        read_torch_archive(_zip_with_pickle(tmp_path / "a.bin", newobj_args))
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=2)
    pickler.persistent_id = lambda obj: ("module", "os") if obj == "x" else None
    pickler.dump(["x"])
    with pytest.raises(UnsafePickleError, match="persistent"):
        read_torch_archive(_zip_with_pickle(tmp_path / "b.bin", buf.getvalue()))


@pytest.mark.parametrize("target", ["torch._utils\n_rebuild_parameter", "ctx_to_lora.configs\nCtxEncoderArguments"])
def test_a_pickle_cannot_rewrite_what_the_table_hands_it(tmp_path, target):
    """BUILD with slot state on a callable from the table would set its attributes (say, a
    function's defaults, for every later load in the process): refused (a record class fails on
    its own ``__setstate__``)."""
    from lora_memory import safe_unpickle

    before = safe_unpickle._rebuild_parameter.__defaults__
    build = (b"\x80\x02c" + target.encode() + b"\nN}X\x0c\x00\x00\x00__defaults__K\x01\x85s\x86b.")
    with pytest.raises(CheckpointError):
        read_torch_archive(_zip_with_pickle(tmp_path / "build.bin", build))
    assert safe_unpickle._rebuild_parameter.__defaults__ == before


def test_a_storage_of_another_size_than_declared_is_refused_before_it_is_read(tmp_path):
    torch.save({"w": torch.ones(4)}, tmp_path / "ok.bin")
    with zipfile.ZipFile(tmp_path / "ok.bin") as src, zipfile.ZipFile(tmp_path / "bad.bin", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            # a storage that unpacks to far more than the 16 bytes its tensor declares
            dst.writestr(info.filename, b"\0" * 10**6 if info.filename.endswith("data/0") else data,
                         compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match="not the 16 declared"):
        read_torch_archive(tmp_path / "bad.bin")


def test_files_that_are_not_torch_archives_are_named_errors(tmp_path):
    raw = tmp_path / "legacy.bin"
    raw.write_bytes(pickle.dumps(_RunsCode(f"touch {tmp_path / 'pwned'}")))  # a bare pickle (pre-1.6 format)
    for path in (raw, tmp_path / "missing.bin"):
        with pytest.raises(CheckpointError):
            read_torch_archive(path)
    assert not (tmp_path / "pwned").exists()


# ---- parity with the upstream forward ----------------------------------------------------------
def _fixture():
    with safe_open(str(FIXTURE), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return json.loads(meta["variants"]), tensors


VARIANTS, FIXTURE_TENSORS = _fixture()


def _upstream_file(path, backbone, name):
    """The fixture's weights and config, laid out as upstream's pytorch_model.bin."""
    v = VARIANTS[name]
    prefix = f"{name}.weights."
    tensors = {k[len(prefix):]: t for k, t in FIXTURE_TENSORS.items() if k.startswith(prefix)}
    d_in = {m: s[0] for m, s in v["features"].items()}
    d_out = {m: s[1] for m, s in v["features"].items()}
    return write_upstream_doc2lora(
        path, backbone.name, tensors,
        hypernet={"latent_size": v["latent"], "per_rank_gen": True, "use_bias": True,
                  "per_layer_processing": v["per_layer_processing"], "num_pre_head_layers": v["num_pre_head_layers"],
                  "extra_modules": None, "base_hidden_size": backbone.hidden_size,
                  "layer_indices": torch.arange(backbone.num_layers), "feature_sizes": (d_in, d_out)},
        aggregator={"aggregator_type": "perceiver", "layer_to_layer_ctx_encoder": True,
                    "n_latent_queries": v["n_latent_queries"], "num_blocks": v["num_blocks"],
                    "num_self_attn_per_block": v["num_self_attn_per_block"], "shared_weights": False},
        lora={"r": v["r"], "lora_alpha": v["lora_alpha"], "target_modules": set(v["modules"])},
    )


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_converted_network_reproduces_the_upstream_forward(backbone, tmp_path, name):
    v = VARIANTS[name]
    path = convert_doc2lora(_upstream_file(tmp_path / "pytorch_model.bin", backbone, name), tmp_path / "d2l.safetensors",
                            base=backbone)
    net = load_checkpoint(path, backbone, kind="doc2lora")
    assert net.arch == "upstream_perceiver" and net.card["converted_from"]["license"].startswith("MIT")
    features, mask = FIXTURE_TENSORS["input.features"], FIXTURE_TENSORS["input.mask"]
    n = features.shape[1]
    chunk = ChunkFeatures(input_ids=torch.zeros_like(mask), mask=mask,
                          block_inputs={layer: features[:, layer] for layer in range(n - 1)}, module_inputs={},
                          next_embeddings=torch.zeros(0), next_mask=torch.zeros(0),
                          normed_block_inputs={n - 1: features[:, n - 1]})
    with torch.no_grad():
        out = net(chunk)
        doc = assemble(out, [list(range(features.shape[0]))], net.bias_adapter())
    for m in v["modules"]:
        want_a, want_b = FIXTURE_TENSORS[f"{name}.out.{m}.A"], FIXTURE_TENSORS[f"{name}.out.{m}.B"]
        assert (out.A[m] - want_a).abs().max().item() < TOLERANCE
        # ours keeps B as (d_out, r) with the scale folded in; upstream applies alpha in the forward
        assert (out.B[m] - v["lora_alpha"] * want_b.transpose(-1, -2)).abs().max().item() < TOLERANCE
        x, want = FIXTURE_TENSORS[f"{name}.doc.{m}.x"], FIXTURE_TENSORS[f"{name}.doc.{m}.delta"]
        delta = torch.stack([x @ (doc.B[m][0, layer] @ doc.A[m][0, layer]).T for layer in range(n)])
        assert (delta - want).abs().max().item() < TOLERANCE * max(1.0, want.abs().max().item())
        assert want.abs().max().item() > 0.1  # the fixture's update is not trivially zero


@pytest.mark.parametrize("family", ["gemma-2", "qwen3", "mistral", "llama"])
def test_features_are_what_the_upstream_context_encoder_returns(family, tmp_path):
    from experiments.upstream_smoke import tiny_family_backbone

    backbone = tiny_family_backbone(family, hidden=32, layers=3, device="cpu")
    net = load_checkpoint(convert_doc2lora(random_upstream_doc2lora(tmp_path / "u.bin", backbone),
                                           tmp_path / "d.safetensors", base=backbone), backbone)
    chunks = [backbone.tokenize("The special magic number is 4821."), backbone.tokenize("The sky is blue.")]
    features = encode_chunks(backbone, net, chunks)
    decoder = backbone.model.get_decoder()
    layers = decoder.layers
    decoder.layers = layers[:-1]  # upstream's PerLayerActivations: every block but the last
    try:
        with torch.no_grad():
            hidden = decoder(input_ids=features.input_ids, attention_mask=features.mask, output_hidden_states=True).hidden_states
    finally:
        decoder.layers = layers
    assert len(hidden) == backbone.num_layers
    keep = features.mask.bool()
    ours = [features.block_inputs[layer] for layer in range(backbone.num_layers - 1)]
    ours.append(features.normed_block_inputs[backbone.num_layers - 1])
    for layer, (a, b) in enumerate(zip(ours, hidden, strict=True)):
        assert (a[keep] - b[keep]).abs().max().item() < 1e-5, f"layer {layer}"


def test_a_chunk_is_read_inside_a_chat_turn_as_upstream_tokenizes_it(tmp_path, monkeypatch):
    from lora_memory.testing import make_tiny_backbone

    backbone = make_tiny_backbone()
    net = load_checkpoint(convert_doc2lora(random_upstream_doc2lora(tmp_path / "u.bin", backbone),
                                           tmp_path / "d.safetensors", base=backbone), backbone)
    text = "The special magic number is 4821."
    features = encode_chunks(backbone, net, [backbone.tokenize(text)])
    wrapped = backbone.tokenizer.apply_chat_template(
        [{"role": "system", "content": ""}, {"role": "user", "content": text}], add_generation_prompt=True,
        tokenize=True, return_dict=True)["input_ids"]  # upstream's tokenize_ctx_text
    assert features.input_ids[0].tolist() == list(wrapped)
    # a template without a system turn (gemma-2's own) gets the chunk alone in the user turn
    monkeypatch.setattr(backbone.tokenizer, "chat_template",  # the tokenizer is shared: restored after the test
                        "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}"
                        "{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}")
    ids = net.chunk_prompt(backbone, backbone.tokenize(text))
    assert ids == backbone.chat_prompt(text) and len(ids) > len(backbone.tokenize(text))


# ---- refusals ----------------------------------------------------------------------------------
def test_options_it_does_not_reproduce_are_refused(backbone, tmp_path):
    path = _upstream_file(tmp_path / "u.bin", backbone, "published")
    state = read_torch_archive(path)
    assert isinstance(state["hypernet_config"], UpstreamRecord)
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    records = {role: dict(rec.fields) for role, rec in [("hypernet", state["hypernet_config"]),
                                                         ("ctx", state["ctx_encoder_args"])]}
    agg = dict(records["hypernet"].pop("aggregator_config").fields)
    lora = dict(records["hypernet"].pop("lora_config").fields)
    write_upstream_doc2lora(tmp_path / "early.bin", backbone.name, tensors, hypernet=records["hypernet"],
                            aggregator=agg, lora=lora, ctx={**records["ctx"], "ctx_encoder_type": "early_exit"})
    with pytest.raises(UpstreamFormatError, match="early_exit"):
        convert_doc2lora(tmp_path / "early.bin", tmp_path / "o.safetensors", base=backbone)
    other = Backbone(AutoModelForCausalLM.from_config(backbone.model.config.__class__(
        **{**backbone.model.config.to_dict(), "intermediate_size": 48})), backbone.tokenizer, name=backbone.name)
    with pytest.raises(BaseModelMismatchError, match="down_proj"):
        convert_doc2lora(path, tmp_path / "o.safetensors", base=other)
    del tensors["head.weight"]
    write_upstream_doc2lora(tmp_path / "nohead.bin", backbone.name, tensors, hypernet=records["hypernet"],
                            aggregator=agg, lora=lora, ctx=records["ctx"])
    with pytest.raises(UpstreamFormatError, match="head"):
        convert_doc2lora(tmp_path / "nohead.bin", tmp_path / "o.safetensors", base=backbone)


def test_an_older_file_without_the_newer_options_gets_upstreams_defaults(backbone, tmp_path):
    state = read_torch_archive(random_upstream_doc2lora(tmp_path / "u.bin", backbone, num_pre_head_layers=4))
    hyper = dict(state["hypernet_config"].fields)
    agg, lora = dict(hyper.pop("aggregator_config").fields), dict(hyper.pop("lora_config").fields)
    del hyper["num_pre_head_layers"], hyper["use_bias"]  # upstream's from_state_dict: 4 and True
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    old = write_upstream_doc2lora(tmp_path / "old.bin", backbone.name, tensors, hypernet=hyper, aggregator=agg, lora=lora)
    net = load_checkpoint(convert_doc2lora(old, tmp_path / "d.safetensors", base=backbone), backbone)
    assert net.config.num_pre_head_layers == 4 and net.config.use_bias


# ---- use -----------------------------------------------------------------------------------------
def test_memory_answers_with_a_converted_checkpoint_and_its_peft_export_matches(backbone, tiny_model_dir, tmp_path):
    ckpt = tmp_path / "d2l.safetensors"
    assert cli_main(["convert-upstream", str(random_upstream_doc2lora(tmp_path / "pytorch_model.bin", backbone)),
                     "-o", str(ckpt), "--base-model", str(tiny_model_dir)]) == 0
    assert cli_main(["convert-upstream", str(tmp_path / "pytorch_model.bin"), "-o", str(ckpt),
                     "--base-model", str(tiny_model_dir)]) == 2  # exists: --force needed
    # as the README says: the model by the name given to --base-model, the converted checkpoint
    with ParametricMemory(model=str(tiny_model_dir), checkpoint=str(ckpt), device="cpu", encoder=HashEncoder(),
                          max_new_tokens=4) as memory:
        memory.add("The special magic number is 4821. The grass is green.", id="magic")
        answer = memory.ask("What is the special magic number?")
        adapter = memory.adapter("magic")
        loaded = memory.backbone
    assert isinstance(answer.answer, str) and answer.document_ids == ["magic"]
    assert adapter.metadata["arch"] == "upstream_perceiver" and adapter.layers == tuple(range(loaded.num_layers))
    ids, mask = loaded.pad([loaded.chat_prompt("What is the special magic number?")])
    ours = loaded.forward_logits(ids, mask, AdapterBatch.stack([adapter]))
    assert (ours - loaded.forward_logits(ids, mask)).abs().max().item() > 1e-3  # the adapter changes the model
    folder = export_peft(adapter, loaded, tmp_path / "peft")
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
                                           folder).eval()
    with torch.no_grad():
        theirs = peft_model(input_ids=ids, attention_mask=mask).logits
    assert (ours - theirs).abs().max().item() < 1e-4


def test_the_cli_names_an_unsafe_file_and_exits_2(tmp_path, capsys):
    sentinel = tmp_path / "pwned"
    torch.save({"x": _RunsCode(f"touch {sentinel}")}, tmp_path / "bad.bin")
    assert cli_main(["convert-upstream", str(tmp_path / "bad.bin"), "-o", str(tmp_path / "o.safetensors")]) == 2
    assert "refused" in capsys.readouterr().err and not sentinel.exists()


def test_the_smoke_experiment_runs_every_family_on_cpu():
    from experiments.upstream_smoke import FAMILIES, main

    results = main(["--device", "cpu", "--hidden", "32", "--layers", "2", "--latent", "8", "--blocks", "1",
                    "--tokens", "48", "--repeats", "1", "--new-tokens", "2"])
    assert [r["family"] for r in results] == list(FAMILIES)
    assert {r["model_type"] for r in results} == {"gemma2", "qwen3", "mistral", "llama"}
    assert all(r["internalize_median_s"] > 0 and r["peak_memory_mb"] > 0 and r["adapter_rank"] > 0 for r in results)


# ---- Text-to-LoRA ---------------------------------------------------------------------------------
T2L_FIXTURE = FIXTURE.parent / "upstream_t2l_parity.safetensors"


def _t2l_fixture():
    with safe_open(str(T2L_FIXTURE), framework="pt") as f:
        return json.loads(f.metadata()["config"]), {k: f.get_tensor(k) for k in f.keys()}


def test_the_converted_text2lora_reproduces_the_upstream_forward(backbone, tmp_path):
    from lora_memory.hypernets.upstream import convert_text2lora

    config, tensors = _t2l_fixture()
    weights = {k.removeprefix("weights."): t for k, t in tensors.items() if k.startswith("weights.")}
    hypermod = write_upstream_text2lora(
        tmp_path / "run", weights,
        args={"model_dir": backbone.name, "target_modules": config["target_modules"], "training_task": "sft",
              "emb_model": "Alibaba-NLP/gte-large-en-v1.5", "hypernet_latent_size": config["hypernet_latent_size"],
              "head_in_size": config["head_in_size"]},
        adapter_config={"r": config["r"], "lora_alpha": config["lora_alpha"], "use_rslora": config["use_rslora"],
                        "target_modules": config["target_modules"]})
    net = load_checkpoint(convert_text2lora(hypermod, tmp_path / "t2l.safetensors", base=backbone), backbone, kind="text2lora")
    assert net.arch == "upstream_mlp" and net.config.encoder == "Alibaba-NLP/gte-large-en-v1.5"
    with torch.no_grad():
        out = net(tensors["input.pooled"])
    for i in range(tensors["input.pooled"].shape[0]):
        for m in config["target_modules"]:
            a, b = out.A[m][i], out.B[m][i]
            assert (a - tensors[f"out.{i}.{m}.A"]).abs().max().item() < TOLERANCE
            assert (b - net.scale * tensors[f"out.{i}.{m}.B"]).abs().max().item() < TOLERANCE
            want = tensors[f"out.{i}.{m}.delta_weight"]
            assert (b @ a - want).abs().max().item() < TOLERANCE * max(1.0, want.abs().max().item())
    assert net.scale == pytest.approx(config["lora_alpha"] / config["r"] ** 0.5)  # rsLoRA


def test_a_gte_description_encoder_is_read_as_upstream_reads_it(backbone, tmp_path):
    """Upstream embeds descriptions with gte-large-en-v1.5 ([CLS] state, fp32); a tiny random GTE
    model saved locally stands in for it (no download), given at conversion time."""
    from transformers import GteConfig, GteModel

    from lora_memory.errors import BackboneError
    from lora_memory.hypernets import describe_task
    from lora_memory.hypernets.upstream import convert_text2lora

    config, tensors = _t2l_fixture()
    weights = {k.removeprefix("weights."): t for k, t in tensors.items() if k.startswith("weights.")}
    hypermod = write_upstream_text2lora(
        tmp_path / "run", weights,
        args={"model_dir": backbone.name, "target_modules": config["target_modules"], "training_task": "sft",
              "emb_model": "Alibaba-NLP/gte-large-en-v1.5", "hypernet_latent_size": config["hypernet_latent_size"],
              "head_in_size": config["head_in_size"]},
        adapter_config={"r": config["r"], "lora_alpha": config["lora_alpha"], "use_rslora": config["use_rslora"]})
    missing = convert_text2lora(hypermod, tmp_path / "missing.safetensors", base=backbone,
                                description_encoder=str(tmp_path / "no-gte-here"))
    with pytest.raises(BackboneError, match="no-gte-here"):
        describe_task(backbone, load_checkpoint(missing, backbone), "Reply with one word.")
    gte = GteModel(GteConfig(vocab_size=len(backbone.tokenizer), hidden_size=config["emb_dim"], num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=40, pad_token_id=backbone.tokenizer.pad_token_id))
    gte.save_pretrained(tmp_path / "gte-tiny")
    backbone.tokenizer.save_pretrained(tmp_path / "gte-tiny")
    net = load_checkpoint(convert_text2lora(hypermod, tmp_path / "t2l.safetensors", base=backbone,
                                            description_encoder=str(tmp_path / "gte-tiny")), backbone)
    adapter = describe_task(backbone, net, "Reply with one word")
    batch = backbone.tokenizer(["Reply with one word."], return_tensors="pt")  # add_full_stop, then [CLS] pooling
    with torch.no_grad():
        pooled = gte.eval()(**batch).last_hidden_state[:, 0]
        want = net(pooled)
    for m in config["target_modules"]:
        assert (adapter.A[m] - want.A[m][0]).abs().max().item() < TOLERANCE
        assert (adapter.B[m] - want.B[m][0]).abs().max().item() < TOLERANCE


def test_the_description_is_embedded_as_upstream_embeds_it(backbone):
    from lora_memory.hypernets.encoders import BACKBONE_SPECIAL, make_encoder
    from lora_memory.hypernets.upstream_text2lora import UpstreamTextToLoRA, UpstreamTextToLoRAConfig

    net = UpstreamTextToLoRA(UpstreamTextToLoRAConfig(), backbone.identity)
    texts = ["Reply with one word", "Summarise the review in one word: positive or negative."]
    formatted = [net.description_text(t) for t in texts]
    assert formatted == ["Reply with one word.", texts[1]]  # add_full_stop
    ours = make_encoder(BACKBONE_SPECIAL, backbone)(formatted)
    batch = backbone.tokenizer(formatted, padding=True, return_tensors="pt")  # right padding, special tokens
    with torch.no_grad():
        hidden = backbone.model(**batch, output_hidden_states=True).hidden_states[-1]
    last = batch["attention_mask"].sum(1) - 1  # upstream's last_token_pool
    assert (ours - hidden[torch.arange(len(texts)), last]).abs().max().item() < 1e-5


def test_a_task_adapter_runs_a_converted_text2lora_and_its_peft_export_matches(backbone, tiny_model_dir, tmp_path):
    from lora_memory import TaskAdapter

    hypermod = random_upstream_text2lora(tmp_path / "run", backbone)
    ckpt = tmp_path / "t2l.safetensors"
    assert cli_main(["convert-upstream", str(hypermod), "--kind", "text2lora", "-o", str(ckpt),
                     "--base-model", str(tiny_model_dir)]) == 0
    task = TaskAdapter("Reply with one word", model=str(tiny_model_dir), checkpoint=str(ckpt), device="cpu",
                       max_new_tokens=3)
    assert isinstance(task("The film was great."), str)
    adapter = task.adapter
    loaded = task.backbone
    assert adapter.metadata["arch"] == "upstream_mlp" and set(adapter.modules) == {"q_proj", "v_proj"}
    ids, mask = loaded.pad([loaded.chat_prompt("The film was great.")])
    ours = loaded.forward_logits(ids, mask, AdapterBatch.stack([adapter]))
    assert (ours - loaded.forward_logits(ids, mask)).abs().max().item() > 1e-3
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
                                           export_peft(adapter, loaded, tmp_path / "peft")).eval()
    with torch.no_grad():
        assert (ours - peft_model(input_ids=ids, attention_mask=mask).logits).abs().max().item() < 1e-4


def test_text2lora_options_it_does_not_reproduce_are_refused(backbone, tmp_path):
    import yaml

    from lora_memory.hypernets.upstream import convert_text2lora

    hypermod = random_upstream_text2lora(tmp_path / "run", backbone)
    args = yaml.safe_load((tmp_path / "run" / "args.yaml").read_text())
    (tmp_path / "run" / "args.yaml").write_text(yaml.safe_dump({**args, "training_task": "recon"}))
    with pytest.raises(UpstreamFormatError, match="recon"):
        convert_text2lora(hypermod, tmp_path / "o.safetensors", base=backbone)
    (tmp_path / "run" / "args.yaml").unlink()
    with pytest.raises(UpstreamFormatError, match="args.yaml"):
        convert_text2lora(hypermod, tmp_path / "o.safetensors", base=backbone)
