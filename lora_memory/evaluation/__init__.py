"""Evaluation: question answering over documents, the NIAH grid, baselines and plots."""
