"""``lora-memory bench``: every performance claim measured side by side in one run.

Modules, one job each: `config` (the run's flags), `timing` (warm-up, repeats, median, spread, peak
memory), `documents` (benchmark documents and each method's prompt), `tasks` (the T2L task),
`workspace` (what sections share), `measures` (the sections), `targets` (pass / miss), `report`
(JSON, figures, markdown) and `runner` (all of it in order). The context-distillation baseline
(`lora_memory.evaluation.context_distill`) and the adapter codec with its int8 form
(`lora_memory.adapter_io`) live outside the suite: `lora-memory eval doc2lora` scores both.
"""

from lora_memory.bench.config import SECTIONS, BenchConfig
from lora_memory.bench.runner import run_bench

__all__ = ["SECTIONS", "BenchConfig", "run_bench"]
