"""A sweep's rows summarised per cell (dataset, d_steps, method): summary.csv and summary.md."""

import math

import numpy as np

from reference.metrics import IMAGE_METRICS

TITLES = {"modes_captured": "modes", "high_quality_fraction": "high quality",
          "reverse_kl": "reverse KL", "energy_distance": "energy distance",
          "mean_confidence": "mean confidence", "frechet_distance": "digits FID"}  # fmt: skip
WILSON_Z = 1.959963984540054  # the normal quantile of a two-sided 95% interval


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a binomial proportion (honest at 0 of 8 and 8 of 8,
    where the normal approximation collapses to a point)."""
    centre = (successes + WILSON_Z**2 / 2) / (n + WILSON_Z**2)
    half = WILSON_Z * math.sqrt(successes * (n - successes) / n + WILSON_Z**2 / 4)
    return centre - half / (n + WILSON_Z**2), centre + half / (n + WILSON_Z**2)


def summarise(rows: list[dict], metrics: tuple[str, ...]) -> list[dict]:
    """One row per cell (dataset, d_steps, method) in the rows' order: runs, successes with
    their Wilson interval, diverged, collapsed, and mean and standard error of each metric
    over the runs that did not diverge."""
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault((row["dataset"], int(row["d_steps"]), row["method"]), []).append(row)
    summary = []
    for (dataset, d_steps, method), group in cells.items():
        finished = [row for row in group if row["diverged"] in (False, "False")]
        every_mode = [int(row["modes_captured"]) == int(row["modes_total"]) for row in finished]
        low, high = wilson(sum(every_mode), len(group))
        cell = {"dataset": dataset, "d_steps": d_steps, "method": method, "runs": len(group),
                "success": sum(every_mode), "success_rate": sum(every_mode) / len(group),
                "success_low": low, "success_high": high, "diverged": len(group) - len(finished),
                "collapsed": sum(row["collapsed"] in (True, "True") for row in group)}  # fmt: skip
        for name in metrics:
            values = np.array([float(row[name]) for row in finished])
            cell[f"{name}_mean"] = float(values.mean()) if len(values) else math.nan
            cell[f"{name}_se"] = (float(values.std(ddof=1) / math.sqrt(len(values)))
                                  if len(values) > 1 else math.nan)  # fmt: skip
        summary.append(cell)
    return summary


def markdown(summary: list[dict], metrics: tuple[str, ...]) -> str:
    """summary.md: every cell's row, then the success counts alone as one line per block
    (dataset, D steps) and one column per method, the grid at a glance."""
    images = IMAGE_METRICS[0] in metrics  # the modes are the classifier's classes
    every = "all 10 digits" if images else "all modes"
    titles = [TITLES[name] for name in metrics]
    if images:
        titles[:2] = ["digits", "confident"]
    header = (f"| dataset | D steps | method | {every} (95% CI) | " + " | ".join(titles)
              + " | diverged | collapsed |")  # fmt: skip
    lines = [header, "| --- " * (len(metrics) + 6) + "|"]
    for c in summary:
        lines.append(
            f"| {c['dataset']} | {c['d_steps']} | {c['method']} | {c['success']} of {c['runs']}"
            f" ({c['success_low']:.2f}-{c['success_high']:.2f}) | "
            + " | ".join(f"{c[n + '_mean']:.3g} ± {c[n + '_se']:.2g}" for n in metrics)
            + f" | {c['diverged']} | {c['collapsed']} |"
        )
    methods = list(dict.fromkeys(c["method"] for c in summary))
    blocks = list(dict.fromkeys((c["dataset"], c["d_steps"]) for c in summary))
    success = {(c["dataset"], c["d_steps"], c["method"]): f"{c['success']}/{c['runs']}"
               for c in summary}  # fmt: skip
    lines += ["", f"Runs covering every {'digit' if images else 'mode'}:", "",
              "| dataset | D steps | " + " | ".join(methods) + " |",
              "| --- " * (len(methods) + 2) + "|"]  # fmt: skip
    for dataset, d_steps in blocks:
        cells = (success.get((dataset, d_steps, method), "") for method in methods)
        lines.append(f"| {dataset} | {d_steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
