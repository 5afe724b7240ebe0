"""Build the Text-to-LoRA task corpus shipped as ``lora_memory/data/task_corpus.json.gz``.

Two sources:

* **BIG-bench** JSON tasks, read from the ``bigbench`` PyPI *source* distribution (Apache-2.0). Only
  English tasks with short answers that a 135M-parameter model can produce are used: fixed-label
  classification, multiple choice with short options, and single word / number answers. Tasks with
  long generations, code, non-English text or offensive content are left out, as are tasks that
  repackage third-party datasets under other licences (FEVER, VitaminC, SNIPS, Social IQa, ...).
* **Procedural** tasks generated here: string transforms, formatting, extraction, arithmetic and
  keyword-rule classification. Inputs come from an open vocabulary (made-up words, random numbers),
  so answers must be computed, never memorised; evaluation examples use made-up words from the
  held-out half of `lora_memory.data.synthetic.word_split`, which training examples never use.
  Tasks of one family share an input format (a bare word, "37 48", a list of numbers), so only the
  description says which transform to apply.

Every task gets 32 training descriptions and 3 evaluation descriptions. Descriptions combine
task-specific action phrases ("reverse the letters of the word") with generic frames ("Given {input},
{action}. {format}") and output-format hints; the last two action phrases, the last two format hints and
three frames are reserved for evaluation, so an evaluation description never shares its (action, frame,
format) with a training one. BIG-bench tasks also keep their own description (with a format hint).

Held-out tasks (never trained on) are chosen deterministically: within each (group, kind) cell
(BIG-bench label / option / exact-answer tasks, BIG-bench list functions, procedural label / exact-answer
tasks) the tasks with the smallest CRC32 of their name. Their few training examples are kept only for few-shot baselines.

A second, larger corpus (``--corpus v2``, ``lora_memory/data/task_corpus_v2.json.gz``; `build_v2`)
adds every usable BIG-bench JSON task (`bigbench_all`), formatting-only tasks (`formatting`),
user-phrased descriptions ending with the reply's format, task families and whole held-out
families. v1 stays the default and byte for byte what the shipped Text-to-LoRA checkpoint used.

Usage::

    python -m scripts.build_task_corpus                      # pip-downloads bigbench==1.0.0 (sdist)
    python -m scripts.build_task_corpus --corpus v2 --sdist /tmp/bb/bigbench-1.0.0.tar.gz
    python -m scripts.build_task_corpus --sdist /tmp/bb/bigbench-1.0.0.tar.gz
    python -m scripts.build_task_corpus --sdist path/to/extracted/bigbench-1.0.0 --out corpus.json.gz
"""
