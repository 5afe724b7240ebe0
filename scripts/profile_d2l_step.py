"""Where a Doc-to-LoRA training step's time goes: context features, student forward, backward.

One thread, three steps per setting (batch 8, needle + facts), short (48-160-token) and long
(96-1024-token) haystacks: `OMP_NUM_THREADS=1 python scripts/profile_d2l_step.py`.
"""
import random, time, torch
from lora_memory.backbone import Backbone
from lora_memory.hypernets.checkpoint import fresh
from lora_memory.hypernets import doc2lora as d2l
from lora_memory.training import doc2lora as rec
from lora_memory.training.data import sample_stream
torch.set_num_threads(1)
bb = Backbone.load(None, device="cpu")
net = fresh("doc2lora", bb, rank=16, b_scale_init=0.1).train().requires_grad_(True)
T = {}
def timed(name, fn):
    def w(*a, **k):
        t = time.perf_counter(); out = fn(*a, **k); T[name] = T.get(name, 0) + time.perf_counter() - t; return out
    return w
d2l.encode_chunks = timed("features (early-exit backbone pass, no grad)", d2l.encode_chunks)
orig_fh = bb.final_hidden
bb.final_hidden = timed("student + teacher forward", orig_fh)
count = lambda s: len(bb.tokenize(s))
for hay in ((48, 160), (96, 1024)):
    cfg = rec.Doc2LoRATrainConfig(haystack_min=hay[0], haystack_max=hay[1], max_train_chunks=2 if hay[1] < 500 else 4)
    for step in range(3):
        T.clear(); rng = random.Random(step)
        stream = sample_stream(rng.randrange(2**31), "train", {"needle": 1.0, "facts": 1.0}, count, hay)
        t0 = time.perf_counter(); docs = [next(stream) for _ in range(8)]; T["data"] = time.perf_counter() - t0
        t0 = time.perf_counter(); loss, _ = rec.doc2lora_loss(bb, net, docs, rng, cfg); T["loss total"] = time.perf_counter() - t0
        t0 = time.perf_counter(); loss.backward(); T["backward"] = time.perf_counter() - t0
        net.zero_grad()
    print(hay, {k: round(v, 2) for k, v in T.items()})
