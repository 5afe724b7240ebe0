"""``lora-memory bench``: every performance claim measured side by side in one run.

Modules, one job each: `config` (the run's flags), `timing` (warm-up, repeats, median, spread, peak
memory), `documents` (benchmark documents and each method's prompt), `distill` (the context-
distillation baseline), `quantize` (an int8 adapter form, measured only), `tasks` (the T2L task),
`workspace` (what sections share), `measures` (the sections), `targets` (pass / miss), `report`
(JSON, figures, markdown) and `runner` (all of it in order).
"""

from lora_memory.bench.config import SECTIONS, BenchConfig
from lora_memory.bench.runner import run_bench

__all__ = ["SECTIONS", "BenchConfig", "run_bench"]
