"""Figures for evaluation results (written as PNG; matplotlib without a display)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def heatmaps(grids: Mapping[str, Sequence[Sequence[float]]], lengths: Sequence[int], depths: Sequence[float],
             path: Path, title: str, depth_label: str = "needle depth") -> Path:
    """One accuracy heatmap (depth x length) per method, side by side; ``depth_label`` names what
    the rows place (a needle, a planted fact)."""
    fig, axes = plt.subplots(1, len(grids), figsize=(4.2 * len(grids), 3.8), squeeze=False)
    for ax, (method, grid) in zip(axes[0], grids.items()):
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto", origin="upper")
        ax.set_xticks(range(len(lengths)), [f"{n // 1024}K" if n >= 1024 else str(n) for n in lengths])
        ax.set_yticks(range(len(depths)), [f"{d:.0%}" for d in depths])
        ax.set_xlabel("document tokens")
        ax.set_title(method)
    axes[0][0].set_ylabel(depth_label)
    fig.colorbar(im, ax=axes[0].tolist(), label="accuracy")
    fig.suptitle(title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def bars(scores: Mapping[str, Mapping[str, float]], path: Path, title: str, ylabel: str) -> Path:
    """Grouped bars: one group per metric, one bar per method."""
    methods = list(scores)
    metrics = list(next(iter(scores.values())))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(metrics) * len(methods) / 2, 3.6))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [scores[method][m] for m in metrics], width, label=method)
    ax.set_xticks([j + width * (len(methods) - 1) / 2 for j in range(len(metrics))], metrics)
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def tradeoff(curves: Mapping[str, Sequence[tuple[float, float, str]]], path: Path, title: str, xlabel: str) -> Path:
    """Accuracy against prompt tokens: one line per curve, each point ``(tokens, accuracy, label)``."""
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for name, points in curves.items():
        xs, ys, labels = zip(*points)
        ax.plot(xs, ys, marker="o", label=name)
        for x, y, label in points:
            if label:
                ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (answer contained)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def lines(panels: Mapping[str, Mapping[str, Sequence[tuple[float, float]]]], path: Path, title: str,
          xlabel: str) -> Path:
    """Side-by-side panels (y label -> series name -> ``(x, y)`` points), one line per series."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 3.8), squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels.items()):
        for name, points in series.items():
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
