"""Probe scripts behind the figures in BENCHMARKS.md, one per question asked of the library.

Each module names the BENCHMARKS.md sections it reproduces (``SECTIONS``), parses its flags in
``main()`` (importing one runs nothing) and runs from the repository root as
``python -m experiments.NAME [flags]``. They use the library; the library never imports them.
"""
