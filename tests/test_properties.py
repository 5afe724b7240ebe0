"""Issue 7: property tests (hypothesis) for the pure functions and the file round trips.

* `chunk_token_ids`: lossless, bounded, balanced, fewest chunks.
* `concat_adapters`: ranks add up and the update is the sum of the updates, whatever the scales.
* `adapter_to_bytes` / `adapter_from_bytes`: bit-identical round trip for any finite bit pattern,
  any JSON metadata; and damaged bytes only ever raise `AdapterFormatError`.
* `export_peft` / `import_peft` on the tiny backbone: the update survives, A and B bit for bit.

Tensors stay tiny so about 10,000 generated cases run in well under a minute on one core; the
last test prints how many ran.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import struct
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_memory import AdapterFormatError, BaseModelMismatchError, LoraAdapter, concat_adapters
from lora_memory.adapter_io import adapter_from_bytes, adapter_to_bytes
from lora_memory.chunking import chunk_token_ids
from lora_memory.peft_io import export_peft, import_peft, serving_rank

RUNS: Counter[str] = Counter()
PLANNED = {"chunking": 6000, "concat": 2000, "bytes_round_trip": 1500, "bytes_damaged": 700, "peft": 200}
FAST = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- strategies -------------------------------------------------------------------------------
# Hypothesis costs about a millisecond per value drawn here, so the strategies draw few values
# (a seed, a byte string) and derive shapes from them; the values that matter (bit patterns,
# scales, metadata, names) are drawn directly so that failures shrink to readable cases.
finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
scales = st.floats(min_value=-64, max_value=64, allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=4)
metadatas = st.just({}) | st.dictionaries(st.text(max_size=4), json_values, max_size=3)
MODULE_NAMES = ("q_proj", "v_proj", "down_proj", "gate_proj", "m", "attn.c_attn", "x_1")


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def _layers(rng: random.Random, count: int, top: int = 40) -> tuple[int, ...]:
    return tuple(rng.sample(range(top), count))  # distinct, in any order


def _tensor_from_bits(raw: bytes, shape: tuple[int, ...], offset: int) -> torch.Tensor:
    """float32 tensor of ``shape`` whose bits come from ``raw`` (cycled); non-finite patterns are replaced."""
    n = math.prod(shape)
    if n == 0:
        return torch.empty(shape)
    raw = raw or b"\x00"
    buf = bytes(raw[(offset + i) % len(raw)] for i in range(4 * n))
    t = torch.frombuffer(bytearray(buf), dtype=torch.float32).clone()
    bad = ~torch.isfinite(t)
    t[bad] = torch.arange(int(bad.sum()), dtype=torch.float32) - 1.5
    return t.reshape(shape)


@st.composite
def bit_adapters(draw) -> LoraAdapter:
    """Adapters with arbitrary finite float32 bits (subnormals, -0.0, huge values), any metadata."""
    n_modules, n_layers, seed = draw(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**16)))
    raw = draw(st.binary(max_size=256))
    rng = _rng(seed)
    layers = _layers(rng, n_layers)
    A, B = {}, {}
    for k, name in enumerate(rng.sample(MODULE_NAMES, n_modules)):
        r, d_in, d_out = rng.randint(0, 3), rng.randint(1, 4), rng.randint(1, 4)
        A[name] = _tensor_from_bits(raw, (n_layers, r, d_in), 97 * k)
        B[name] = _tensor_from_bits(raw, (n_layers, d_out, r), 97 * k + 13)
    return LoraAdapter(A, B, layers, scale=draw(finite32), base_model=draw(st.text(max_size=6)), metadata=draw(metadatas))


def _bits_equal(x: torch.Tensor, y: torch.Tensor) -> bool:
    return x.dtype == y.dtype and x.shape == y.shape and torch.equal(x.view(torch.int32), y.view(torch.int32))


def _same_bits(a: LoraAdapter, b: LoraAdapter) -> bool:
    return (
        a.modules == b.modules
        and a.layers == b.layers
        and struct.pack("<d", a.scale) == struct.pack("<d", b.scale)
        and a.base_model == b.base_model
        and json.dumps(dict(a.metadata), sort_keys=True) == json.dumps(dict(b.metadata), sort_keys=True)
        and all(_bits_equal(a.A[m], b.A[m]) and _bits_equal(a.B[m], b.B[m]) for m in a.modules)
    )


# ---- chunking --------------------------------------------------------------------------------
@settings(max_examples=PLANNED["chunking"], **FAST)
@given(length=st.integers(0, 3000), max_tokens=st.integers(1, 40) | st.integers(1, 4000))
def test_chunking_is_lossless_bounded_balanced_and_fewest(length, max_tokens):
    RUNS["chunking"] += 1
    ids = list(range(1000, 1000 + length))  # distinct values: any loss, repeat or reordering shows
    chunks = chunk_token_ids(ids, max_tokens)
    assert [t for c in chunks for t in c] == ids  # contiguous and lossless
    assert all(1 <= len(c) <= max_tokens for c in chunks)
    assert len(chunks) == -(-len(ids) // max_tokens)  # the fewest possible
    if chunks:
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1  # balanced: no stub at the end
    assert chunk_token_ids(tuple(ids), max_tokens) == chunks  # any sequence type


# ---- rank concatenation ----------------------------------------------------------------------
@st.composite
def concat_cases(draw):
    n_parts, n_modules, n_layers, seed = draw(
        st.tuples(st.integers(1, 4), st.integers(1, 2), st.integers(1, 3), st.integers(0, 2**32 - 1))
    )
    # one scale for all (kept as is) or one each (folded into B)
    part_scales = draw(scales.map(lambda s: [s] * n_parts) | st.lists(scales, min_size=n_parts, max_size=n_parts))
    rng, g = _rng(seed), torch.Generator().manual_seed(seed)
    layers = _layers(rng, n_layers, top=6)
    shapes = {name: (rng.randint(1, 5), rng.randint(1, 5)) for name in rng.sample(MODULE_NAMES, n_modules)}
    parts = []
    for i in range(n_parts):
        A, B = {}, {}
        for name, (d_in, d_out) in shapes.items():
            r = rng.randint(0, 4)
            A[name] = torch.randn(n_layers, r, d_in, generator=g)
            B[name] = torch.randn(n_layers, d_out, r, generator=g)
        parts.append(LoraAdapter(A, B, layers, scale=part_scales[i], base_model="tiny", metadata={"i": i}))
    return parts


@settings(max_examples=PLANNED["concat"], **FAST)
@given(parts=concat_cases(), metadata=st.none() | metadatas)
def test_concatenation_adds_ranks_and_updates(parts, metadata):
    RUNS["concat"] += 1
    joined = concat_adapters(parts, metadata=metadata)
    first = parts[0]
    assert joined.layers == first.layers and joined.modules == first.modules and joined.base_model == "tiny"
    assert dict(joined.metadata) == (dict(first.metadata) if metadata is None else metadata)
    if len({p.scale for p in parts}) == 1:
        assert joined.scale == first.scale
    for m in first.modules:
        assert joined.rank(m) == sum(p.rank(m) for p in parts)
        # every layer at once: (layers, d_out, r) @ (layers, r, d_in)
        got = joined.scale * (joined.B[m].double() @ joined.A[m].double())
        expected = sum(p.scale * (p.B[m].double() @ p.A[m].double()) for p in parts)
        bound = sum(abs(p.scale) * (p.B[m].abs() @ p.A[m].abs()).max().item() for p in parts if p.rank(m)) + 1.0
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6 * bound)


@settings(max_examples=200, **FAST)
@given(parts=concat_cases(), seed=st.integers(0, 2**16))
def test_concatenation_refuses_different_targets(parts, seed):
    RUNS["concat"] += 1
    odd = parts[0]
    other_layers = _layers(_rng(seed), len(odd.layers), top=4) if seed % 3 else odd.layers
    other = LoraAdapter(
        {m: torch.zeros(len(other_layers), 1, odd.A[m].shape[2]) for m in odd.modules},
        {m: torch.zeros(len(other_layers), odd.B[m].shape[1], 1) for m in odd.modules},
        other_layers,
        base_model="tiny",
    )
    if other_layers == odd.layers:
        assert concat_adapters([*parts, other]).rank() == sum(p.rank() for p in parts) + 1
    else:
        with pytest.raises(AdapterFormatError, match="different targets"):
            concat_adapters([*parts, other])


# ---- adapter serialization -------------------------------------------------------------------
@settings(max_examples=PLANNED["bytes_round_trip"], **FAST)
@given(adapter=bit_adapters(), with_identity=st.booleans())
def test_adapter_bytes_round_trip_is_bit_identical(adapter, with_identity, backbone):
    RUNS["bytes_round_trip"] += 1
    identity = backbone.identity if with_identity else None
    data = adapter_to_bytes(adapter, identity)
    back = adapter_from_bytes(data, "case", identity)
    assert _same_bits(back, adapter)
    assert adapter_to_bytes(back, identity) == data  # deterministic bytes


@settings(max_examples=PLANNED["bytes_damaged"], **FAST)
@given(
    adapter=bit_adapters(),
    cut=st.none() | st.integers(0, 10_000),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4),
    with_identity=st.booleans(),
)
def test_damaged_adapter_bytes_raise_adapter_format_error_only(adapter, cut, flips, with_identity, backbone):
    RUNS["bytes_damaged"] += 1
    identity = backbone.identity if with_identity else None
    data = bytearray(adapter_to_bytes(adapter, identity))
    for position, mask in flips:
        data[position % len(data)] ^= mask
    if cut is not None:
        data = data[: cut % len(data)]
    try:
        back = adapter_from_bytes(bytes(data), "damaged", identity)
    except (AdapterFormatError, BaseModelMismatchError):
        return
    assert isinstance(back, LoraAdapter)  # a flip inside tensor data can leave a readable adapter


# ---- PEFT export / import --------------------------------------------------------------------
@st.composite
def peft_cases(draw, backbone):
    n_modules, n_layers, seed = draw(st.tuples(st.integers(1, 3), st.integers(1, backbone.num_layers), st.integers(0, 2**32 - 1)))
    rng, g = _rng(seed), torch.Generator().manual_seed(seed)
    names = rng.sample(sorted(backbone.identity.module_shapes), n_modules)
    layers = _layers(rng, n_layers, top=backbone.num_layers)
    A, B = {}, {}
    for name in names:
        d_in, d_out = backbone.module_shape(name)
        r = rng.randint(1, 4)
        A[name] = torch.randn(len(layers), r, d_in, generator=g)
        B[name] = torch.randn(len(layers), d_out, r, generator=g)
    scale = draw(st.floats(min_value=-8, max_value=8, allow_nan=False).filter(lambda s: s != 0))
    return LoraAdapter(A, B, layers, scale=scale, base_model=backbone.name, metadata=draw(metadatas))


@pytest.fixture(scope="module")
def peft_root(tmp_path_factory):
    return tmp_path_factory.mktemp("peft-properties")


@settings(max_examples=PLANNED["peft"], **FAST)
@given(data=st.data(), pad_for_vllm=st.booleans())
def test_peft_export_import_preserves_the_update(data, pad_for_vllm, backbone, peft_root):
    RUNS["peft"] += 1
    adapter = data.draw(peft_cases(backbone))
    folder = Path(tempfile.mkdtemp(dir=peft_root))
    try:
        back = import_peft(export_peft(adapter, backbone, folder / "lora", pad_for_vllm=pad_for_vllm), backbone)
    finally:
        shutil.rmtree(folder)
    rank = max(adapter.rank(m) for m in adapter.modules)
    rank = serving_rank(rank) if pad_for_vllm else rank
    assert back.modules == adapter.modules and back.layers == tuple(sorted(adapter.layers))
    assert dict(back.metadata) == json.loads(json.dumps(dict(adapter.metadata)))
    assert math.isclose(back.scale, adapter.scale, rel_tol=1e-12)
    padded = adapter.padded_to_rank(rank)
    for m in adapter.modules:
        assert back.rank(m) == rank
        for layer in adapter.layers:
            i, j = adapter.layers.index(layer), back.layers.index(layer)
            assert _bits_equal(back.A[m][j], padded.A[m][i]) and _bits_equal(back.B[m][j], padded.B[m][i])
            torch.testing.assert_close(back.delta_weight(m, layer), adapter.delta_weight(m, layer), rtol=1e-6, atol=1e-6)


def test_zz_generated_case_count():
    print(f"\nhypothesis cases run: {dict(RUNS)}, total {sum(RUNS.values())}")
    if set(PLANNED) <= set(RUNS):  # the whole file ran
        assert sum(RUNS.values()) >= 10_000
