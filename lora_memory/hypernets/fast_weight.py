"""Fast-weight Doc-to-LoRA: adapters built from the chunk's own activations.

Our design (REFERENCE.md, "Our own measurement"), which learned the needle task in minutes on a
CPU where the upstream Perceiver did not move. ``rank`` learned queries attend over the chunk's
tokens; for every adapted layer l, rank row j of A is the attention-weighted, L2-normalised input
of the target module at layer l, and row j of B is the attention-weighted embedding of the NEXT
token. With tied input/output embeddings, B writes "say this token next" whenever the state looks
like it did at the selected tokens: in-context copying stored in weights. The network only learns
which tokens matter (queries, keys) and how to align them (maps initialised to identity).

Learned queries are few, so a dense chunk (a made-up name, a date and a place in one sentence)
has more transitions worth storing than queries to select them. ``surprise_rows`` adds rows for
the tokens whose successor the backbone itself found hardest to predict: what the model could not
have guessed is what the adapter must carry, and text repeated within the chunk stays out. These
rows go through the same maps and scales, so a checkpoint trained without them can use them as
it is. Surprise is measured within a chunk, so `internalize` gives them to short documents only.

Two options add selection capacity, both exact no-ops at step 0 of a warm start: ``mixer_layers``
lets the chunk's tokens read each other before the queries score them (a name is worth storing
where it is new to the chunk, not where it repeats), and ``query_groups`` gives groups of layers
their own queries, so the layers need not all store the same ``rank`` tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lora_memory.adapter import AdapterBatch
from lora_memory.backbone import BaseModelIdentity
from lora_memory.config import ConfigMixin
from lora_memory.errors import BackboneError
from lora_memory.hypernets.doc2lora import ChunkFeatures, DocToLoRA, FeatureRequest
from lora_memory.hypernets.layers import CrossAttentionBlock

MIXER_HEADS = 4  # heads of the mixer's self-attention (32 wide at key_dim 128)


@dataclass
class FastWeightConfig(ConfigMixin):
    """Sizes of the fast-weight network.

    Attributes:
        layers: adapted decoder blocks (empty = the upper half, so backward stops halfway).
        rank: learned queries = LoRA rank per chunk.
        key_dim: width of attention keys and queries.
        target: module to adapt; it must write into the residual stream (``down_proj``).
        chunk_tokens: tokens per chunk at inference.
        b_scale_init: B's per-layer scale at initialisation. 0 makes a fresh network an exact
            no-op (safe without a checkpoint); training starts above 0 because at 0 the queries get
            no gradient and settle on filler tokens (BENCHMARKS.md, "D2L meta-training").
        null_slot: every query may also attend to a learned "nothing here" slot; the mass it takes
            shrinks that rank's B, so a chunk without what a query looks for adds (almost) nothing.
            Without it every chunk writes full-strength rows, and the rows of many filler chunks
            drown the one that holds the answer once a long document is concatenated.
        surprise_rows: extra rank rows per chunk, one on each of the tokens whose next token the
            backbone found most surprising (0 = none). Held-out facts 18-20% -> 22-34% exact on
            three sets with the session-2 weights (BENCHMARKS.md, "Surprise rows"); `internalize`
            gives them to short documents only.
        surprise_nats: a token gets a surprise row only if its successor costs the backbone more
            than this many nats; fewer such tokens leave rows at zero.
        mixer_layers: self-attention blocks (pre-norm, key_dim wide) over the chunk's keys before
            the queries score them (0 = none), so what a query selects can depend on the rest of
            the chunk (a new name, a number). They start as the identity: a checkpoint trained
            without them warm-starts exactly where it was.
        query_groups: the adapted layers split into this many contiguous groups, each with its
            own ``rank`` queries (and null-slot scores), so groups of layers can store different
            tokens; rows per layer stay ``rank`` (+ ``surprise_rows``). The groups start as copies
            of one set, and a checkpoint with one set warm-starts every group from it.
    """

    layers: tuple[int, ...] = field(default_factory=tuple)
    rank: int = 8
    key_dim: int = 128
    target: str = "down_proj"
    chunk_tokens: int = 512
    b_scale_init: float = 0.0
    null_slot: bool = False
    surprise_rows: int = 0
    surprise_nats: float = 2.0
    mixer_layers: int = 0
    query_groups: int = 1


class FastWeightDocToLoRA(DocToLoRA):
    arch = "fast_weight"
    config_class = FastWeightConfig

    def __init__(self, config: FastWeightConfig, identity: BaseModelIdentity):
        super().__init__(config, identity)
        config = self.config
        d_in, d_out = identity.module_shapes[config.target]
        if d_out != identity.hidden_size:
            raise BackboneError(
                f"fast_weight needs a target writing into the residual stream (d_out == hidden "
                f"{identity.hidden_size}); {config.target} has d_out {d_out}"
            )
        n, groups = len(config.layers), config.query_groups
        if not 1 <= groups <= n:
            raise ValueError(f"query_groups must be 1..{n} (the adapted layers), got {groups}")
        if config.mixer_layers < 0 or (config.mixer_layers and config.key_dim % MIXER_HEADS):
            raise ValueError(f"mixer_layers needs a key_dim divisible by {MIXER_HEADS} and a count >= 0")
        self.layer_groups = tuple(i * groups // n for i in range(n))  # query group of each adapted layer
        # every group starts as the same set, so a fresh network starts as the one-set network
        self.queries = nn.Parameter(torch.randn(config.rank, config.key_dim).repeat(groups, 1))  # (g * rank, key_dim)
        self.key_norm = nn.LayerNorm(identity.hidden_size)
        self.key_proj = nn.Linear(identity.hidden_size, config.key_dim)
        # Maps start as identity: at step 0, A reads the stored state and B the next token as-is.
        self.a_map = nn.Linear(d_in, d_in, bias=False)
        self.b_map = nn.Linear(d_out, d_out, bias=False)
        nn.init.eye_(self.a_map.weight)
        nn.init.eye_(self.b_map.weight)
        self.a_scale = nn.Parameter(torch.ones(n))
        self.b_scale = nn.Parameter(torch.full((n,), float(config.b_scale_init)))
        # a score of 0 next to the near-zero scores of a fresh network takes about 1/tokens of the mass
        self.null_score = nn.Parameter(torch.zeros(groups * config.rank)) if config.null_slot else None
        # made last, so the other weights draw the same random numbers as without a mixer
        self.mixer = nn.ModuleList(
            CrossAttentionBlock(config.key_dim, MIXER_HEADS, identity_init=True) for _ in range(config.mixer_layers))
        if groups > 1:
            self.register_load_state_dict_pre_hook(_one_set_for_every_group)

    def feature_request(self) -> FeatureRequest:
        return FeatureRequest(
            blocks=frozenset({min(self.layers)}),
            modules=frozenset((layer, self.target) for layer in self.layers),
            next_nll=self.config.surprise_rows > 0,
        )

    def attention(self, features: ChunkFeatures) -> torch.Tensor:
        """Which tokens each rank row selects, ``(chunks, query_groups * (rank + surprise_rows),
        tokens)``, group by group: the group's queries' rows sum to one, or less with the null slot
        (the rest is the slot's), then the one-hot `surprise_selection` rows (the same in every
        group); only the queries' rows when the features carry no surprise (`encode_chunks` with
        ``surprise=False``)."""
        selected = self.query_attention(features)
        if not self.config.surprise_rows or features.next_nll is None:
            return selected
        groups = self.config.query_groups
        surprise = self.surprise_selection(features).unsqueeze(1).expand(-1, groups, -1, -1)  # (b, g, s, t)
        return torch.cat([selected.unflatten(1, (groups, -1)), surprise], dim=2).flatten(1, 2)

    def surprise_selection(self, features: ChunkFeatures) -> torch.Tensor:
        """``(chunks, surprise_rows, tokens)``: one-hot rows on the tokens with the most surprising
        successors (above ``surprise_nats``), most surprising first; zero rows when fewer qualify."""
        rows = self.config.surprise_rows
        nll = features.next_nll.float().masked_fill(~features.next_mask.bool(), -1.0)
        top = nll.topk(min(rows, nll.shape[1]), dim=1)
        selection = nll.new_zeros(nll.shape[0], rows, nll.shape[1])
        hot = (top.values > self.config.surprise_nats).to(selection.dtype)
        return selection.scatter_(2, top.indices.unsqueeze(-1), hot.unsqueeze(-1))

    def query_attention(self, features: ChunkFeatures) -> torch.Tensor:
        """Which tokens each learned query selects, ``(chunks, query_groups * rank, tokens)``."""
        keys = self.key_proj(self.key_norm(features.block_inputs[min(self.layers)].float()))  # (b, t, k)
        padding = ~features.mask.bool()
        for block in self.mixer:
            keys = block(keys, keys, padding)  # self-attention: each token reads its chunk's real tokens
        scores = torch.einsum("rk,btk->brt", self.queries, keys) / math.sqrt(self.config.key_dim)  # (b, g * r, t)
        scores = scores.masked_fill(~features.next_mask.bool().unsqueeze(1), float("-inf"))
        if self.null_score is None:
            return torch.nan_to_num(torch.softmax(scores, dim=-1))  # a one-token chunk: all zeros
        null = self.null_score.view(1, -1, 1).expand(scores.shape[0], -1, 1)
        return torch.softmax(torch.cat([scores, null], dim=-1), dim=-1)[..., :-1]

    def route_logits(self, inputs: torch.Tensor, queries: torch.Tensor, temperature: float) -> torch.Tensor:
        """How strongly each question state reads each document token's row, ``(questions, tokens)``.

        A row stored on token t answers ``x`` in proportion to ``a_scale * <a_map(norm(u_t)), x>``;
        with several entities in a document the question must read its own fact's row louder than
        the same attribute's row of another entity (BENCHMARKS.md, "Several entities per
        document"). Scores are cosines of ``u_t`` and ``a_map``'s transpose applied to ``x``, summed
        over layers by the (fixed) strength of each layer's rows, so training them moves only
        which row a state reads, never how loud the adapter is.

        Args:
            inputs: ``(layers, tokens, d_in)`` the target module's inputs on the document's tokens.
            queries: ``(questions, layers, d_in)`` its inputs where the answer is being predicted.
            temperature: divides the scores (cosines) before a softmax over tokens.
        """
        reads = F.normalize(queries.float() @ self.a_map.weight, dim=-1)  # a_map^T x, (q, layers, d_in)
        strength = (self.a_scale * self.b_scale).detach()
        strength = strength / strength.abs().sum().clamp_min(1e-12)
        return torch.einsum("ltd,qld,l->qt", F.normalize(inputs.float(), dim=-1), reads, strength) / temperature

    def forward(self, features: ChunkFeatures) -> AdapterBatch:
        w = self.attention(features).unflatten(1, (self.config.query_groups, -1))  # (b, g, r, t)
        nxt = torch.einsum("bgrt,bth->bgrh", w, features.next_embeddings.float())  # (b, g, r, hidden)
        b_rows = self.b_map(nxt)  # (b, g, r, d_out)
        A, B = [], []
        for i, (layer, g) in enumerate(zip(self.layers, self.layer_groups)):
            u = features.module_inputs[(layer, self.target)].float()  # (b, t, d_in)
            a = F.normalize(torch.einsum("brt,bti->bri", w[:, g], u), dim=-1)  # (b, r, d_in)
            A.append(self.a_map(a) * self.a_scale[i])
            B.append((b_rows[:, g] * self.b_scale[i]).transpose(1, 2))  # (b, d_out, r)
        return AdapterBatch(
            A={self.target: torch.stack(A, dim=1)},  # (b, layers, r, d_in)
            B={self.target: torch.stack(B, dim=1)},  # (b, layers, d_out, r)
            layers=self.layers,
        )


def _one_set_for_every_group(net: FastWeightDocToLoRA, state: dict[str, torch.Tensor], prefix: str, *_) -> None:
    """Load hook: a checkpoint with one query set (``query_groups`` 1) gives every group a copy of
    its queries and null scores, so warm-starting a grouped network from it is exact at step 0."""
    for name in ("queries", "null_score"):
        stored = state.get(prefix + name)
        if stored is not None and stored.shape[0] == net.config.rank:
            state[prefix + name] = stored.repeat(net.config.query_groups, *[1] * (stored.dim() - 1))
