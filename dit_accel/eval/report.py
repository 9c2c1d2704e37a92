"""Eval results on disk: results.json (everything), report.md (a table), tradeoff.png (quality vs speedup)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dit_accel.atomic import atomic_path, write_json, write_text
from dit_accel.eval.metrics import PSNR_CAP_DB
from dit_accel.generate.settings import STOCK
from dit_accel.words import plural

COLUMNS = (
    ("setting", "label", "{}"),
    ("density", "density", "{:.3f}"),
    ("speedup", "speedup", "{:.2f}x"),
    ("attn speedup", "attention_speedup", "{:.2f}x"),
    ("seconds", "seconds", "{:.2f}"),
    ("attn s", "attention_s", "{:.3f}"),
    ("plan s", "plan_s", "{:.3f}"),
    ("PSNR dB", "psnr", "{:.2f}"),
    ("SSIM", "ssim", "{:.4f}"),
    ("LPIPS", "lpips", "{:.4f}"),
    ("FID", "fid", "{:.2f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def results_table(results: dict[str, Any]) -> str:
    """A markdown table: the stock reference, then one row per method setting."""
    stock = {"label": f"{STOCK} (reference)", **results[STOCK], "speedup": 1.0, "attention_speedup": 1.0}
    rows = [stock, *results["methods"]]
    lines = [
        "| " + " | ".join(title for title, _, _ in COLUMNS) + " |",
        "|" + "|".join("---" if i == 0 else "--:" for i in range(len(COLUMNS))) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key), fmt) for _, key, fmt in COLUMNS) + " |")
    return "\n".join(lines)


def format_report(results: dict[str, Any]) -> str:
    """report.md: what was run, the table, how to read it."""
    size = results["prompts"][0]
    cached = results[STOCK]["from_cache"]
    skipped = "".join(f"- {line}\n" for line in results["skipped_metrics"].values())
    return (
        f"# dit-accel eval: {results['model']}\n\n"
        f"{plural(len(results['prompts']), 'prompt')}, {size['frames']} frames of "
        f"{size['height']}x{size['width']} (first prompt), {results['steps']} steps, "
        f"guidance {results['guidance']}, {results['device']} {results['dtype']}, "
        f"torch {results['torch']}.\n\n"
        f"{results_table(results)}\n\n"
        "Speedup: stock wall time / method wall time of the whole pipeline call, summed over prompts. "
        "Attn speedup: stock attention seconds / (method attention + planning seconds). The stock reference "
        "runs the model's own attention (diffusers' dispatcher) behind the same processor; every setting is "
        "warmed up once untimed"
        + (f" (stock timings of {plural(cached, 'prompt')} come from the reference cache)" if cached else "")
        + f". PSNR: per-frame over the 8-bit range, averaged; identical frames count {PSNR_CAP_DB:.0f} dB. "
        "SSIM / LPIPS: per frame, averaged. FID: all frames of a method against all stock frames.\n"
        + (f"\nSkipped metrics:\n{skipped}" if skipped else "")
    )


def plot_tradeoff(results: dict[str, Any], path: Path) -> None:
    """PSNR against end-to-end and attention speedup, one point per (sparse) method setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, title in ((axes[0], "speedup", "end to end"), (axes[1], "attention_speedup", "attention")):
        for row in results["methods"]:
            # a stock re-run only checks determinism; the dashed line at 1x is the reference
            if row["method"] == STOCK or row.get(key) is None or row.get("psnr") is None:
                continue
            ax.scatter(row[key], row["psnr"], s=40)
            ax.annotate(
                row["label"], (row[key], row["psnr"]), textcoords="offset points", xytext=(5, 4), fontsize=8
            )
        ax.axvline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(f"speedup vs stock ({title})")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("PSNR vs stock (dB)")
    fig.suptitle(f"{results['model']}: quality vs speed")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def write_results(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write results.json, report.md and tradeoff.png into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("results.json", "report.md", "tradeoff.png")}
    write_json(paths["results.json"], results)
    write_text(paths["report.md"], format_report(results))
    plot_tradeoff(results, paths["tradeoff.png"])
    return paths
