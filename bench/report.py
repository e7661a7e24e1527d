"""The results and the printed table. Per row: the median over rounds of its steps per
second and their min-max, its GAN-steps and GEMM GFLOP/s (on a GPU also as a fraction of the
FP32 peak), a compiled peer's compile time (its first call, in seconds), and two ratios,
each formed within a round, between rows timed in that round, and reported as its median
over rounds: 'x reference' to the reference, 'x fast P=1' to fast/fused cpu P=1 for CPU
rows and to fast/graph gpu P=1 for GPU rows (printed under the table; none where that row
is missing, as when the graph capture failed). Below them the sgemm peak, and one line of
warning when any row's rounds spread by more than SPREAD_WARNING of its median. With
--busy N, a second table: each row's rate beside N busy processes and the share of its
quiet rate (same rounds) it keeps.
"""

import numpy as np

from bench.timing import CORES, Row

# The row each device's 'x fast P=1' ratios are formed against: fast at P = 1 in this variant.
BASELINE_VARIANT = {"cpu": "fused", "gpu": "graph"}
SPREAD_WARNING = 0.2  # of a row's median over rounds


def baseline_rows(rows: list[Row]) -> dict[str, Row]:
    """Per device, the row its 'x fast P=1' ratios are formed against: fast at P = 1 in
    BASELINE_VARIANT's variant; a device without that row (a failed graph capture) has none."""
    return {r.device: r for r in rows if r.impl == "fast" and r.population == 1
            and r.fields.get("variant") == BASELINE_VARIANT[r.device]}  # fmt: skip


def results(rows: list[Row]) -> list[dict]:
    """Per row its figures of every round and their median and min-max; the ratios of each
    round to the reference and to its device's baseline_rows row timed in that round, and
    their medians, with that row's name; sgemm rows have no ratios."""
    reference = next(r for r in rows if r.impl == "reference")
    fast_one = baseline_rows(rows)
    out = []
    for r in rows:
        steps = 1.0 / np.array(r.seconds)  # steps per second, one per round
        entry = {"impl": r.impl, "device": r.device, "population": r.population,
                 "threads": r.threads, **r.fields,
                 "steps_per_s": float(np.median(steps)), "steps_per_s_min": float(steps.min()),
                 "steps_per_s_max": float(steps.max()),
                 "spread": float((steps.max() - steps.min()) / np.median(steps)),
                 "gemm_flops_per_step": r.flops,
                 "gemm_gflops": float(np.median(steps * r.flops / 1e9)),
                 "rounds_steps_per_s": steps.tolist()}  # fmt: skip
        if r.impl != "sgemm":
            gan_steps = r.population * steps
            entry["gan_steps_per_s"] = float(np.median(gan_steps))
            fast_p1 = fast_one.get(r.device)
            entry["x_fast_p1_baseline"] = None if fast_p1 is None else _row_name(fast_p1)
            baselines = {"x_reference": reference, "x_fast_p1": fast_p1}
            for name, baseline in baselines.items():
                if baseline is None:  # no baseline row on this device
                    entry[name] = entry[f"rounds_{name}"] = None
                    continue
                # GAN-steps per second over the baseline's, both timed in the same round
                ratios = gan_steps / (baseline.population / np.array(baseline.seconds))
                entry[name], entry[f"rounds_{name}"] = float(np.median(ratios)), ratios.tolist()
        if r.busy_seconds:  # beside --busy's processes, over the same round's quiet figure
            busy = 1.0 / np.array(r.busy_seconds)
            entry |= {"busy_steps_per_s": float(np.median(busy)),
                      "rounds_busy_steps_per_s": busy.tolist(),
                      "busy_over_quiet": float(np.median(busy / steps))}  # fmt: skip
        if "fp32_peak_tflops" in r.fields:
            entry["fp32_peak_fraction"] = entry["gemm_gflops"] / 1e3 / r.fields["fp32_peak_tflops"]
        out.append(entry)
    return out


def print_table(entries: list[dict], rounds: int, load: dict) -> None:
    """The rows, what 'x fast P=1' is formed against, the sgemm peak below them, the load
    averages and, where a row's rounds disagree, one line of warning."""
    before, after = (" ".join(f"{x:.2f}" for x in load[when]) for when in ("before", "after"))
    print(f"load average (1, 5, 15 min): {before} before, {after} after (this run's own "
          f"threads count in it); {CORES} CPUs")  # fmt: skip
    print(f"{rounds} rounds, each row once per round, in rotating order reversed in odd "
          "rounds: medians over rounds, their min-max, ratios formed within a round")  # fmt: skip
    steps = [e for e in entries if e["impl"] != "sgemm"]
    tw = max(len("threads"), *(len(e["threads"]) for e in entries))
    print(f"{'impl':26s} {'device':6s} {'P':>5s} {'threads':{tw}s} {'steps/s':>9s} "
          f"{'min-max':>15s} {'GAN-steps/s':>11s} {'GEMM GFLOP/s':>12s} {'FP32 peak':>9s} "
          f"{'x reference':>11s} {'x fast P=1':>10s} {'compile s':>9s} Adam")  # fmt: skip
    for e in steps:
        x_fast = e["x_fast_p1"] if e["x_fast_p1"] is not None else np.nan
        peak = f"{100 * e['fp32_peak_fraction']:.2f}%" if "fp32_peak_fraction" in e else "-"
        compile_s = f"{e['compile_s']:.1f}" if "compile_s" in e else "-"
        print(f"{_label(e):26s} {e['device']:6s} {e['population']:5d} {e['threads']:{tw}s} "
              f"{e['steps_per_s']:9.1f} {_range(e, 1):>15s} {e['gan_steps_per_s']:11.1f} "
              f"{e['gemm_gflops']:12.2f} {peak:>9s} {e['x_reference']:11.2f} {x_fast:10.2f} "
              f"{compile_s:>9s} {e.get('adam', '-')}")  # fmt: skip
    for where in sorted({e["device"] for e in steps}):
        baseline = next(e["x_fast_p1_baseline"] for e in steps if e["device"] == where)
        wanted = f"fast/{BASELINE_VARIANT[where]} {where} P=1"
        print(f"x fast P=1 on {where}: GAN-steps/s over {baseline}'s" if baseline else
              f"x fast P=1 on {where}: none, there is no {wanted} row")  # fmt: skip
    sgemm = [e for e in entries if e["impl"] == "sgemm"]
    if sgemm:
        print("sgemm peak: float32 GEMMs on the fast path's BLAS (Numba's np.dot), one "
              "OpenBLAS thread each")  # fmt: skip
        print(f"{'shape':26s} {'GEMMs at once':>13s} {'threads':{tw}s} {'GFLOP/s':>9s} "
              f"{'min-max':>15s}")  # fmt: skip
        for e in sgemm:
            gflop = e["gemm_flops_per_step"] / 1e9  # per call: all its GEMMs at once
            print(f"{e['shape']:26s} {e['population']:13d} {e['threads']:{tw}s} "
                  f"{e['gemm_gflops']:9.2f} {_range(e, gflop):>15s}")  # fmt: skip
    if any("busy_steps_per_s" in e for e in steps):
        print_busy(steps)
    spread = [e for e in entries if e["spread"] > SPREAD_WARNING]
    if spread:
        names = ", ".join(f"{_name(e)} {100 * e['spread']:.0f}%" for e in spread)
        print(f"warning: rounds spread by more than {100 * SPREAD_WARNING:.0f}% of the "
              f"median in {names}: other work on the machine (see the load average)")  # fmt: skip


def print_busy(entries: list[dict]) -> None:
    """Each row's rate beside the benchmark's busy processes, by its quiet rate of the same
    rounds: the share of its quiet throughput it keeps on a busy machine."""
    print("beside the busy processes (--busy): each round's loaded turn over its quiet one")
    print(f"{'impl':26s} {'device':6s} {'P':>5s} {'quiet steps/s':>13s} {'busy steps/s':>12s} "
          f"{'busy GAN-steps/s':>16s} {'kept':>6s}")  # fmt: skip
    for e in entries:
        print(f"{_label(e):26s} {e['device']:6s} {e['population']:5d} {e['steps_per_s']:13.1f} "
              f"{e['busy_steps_per_s']:12.1f} {e['population'] * e['busy_steps_per_s']:16.1f} "
              f"{100 * e['busy_over_quiet']:5.0f}%")  # fmt: skip


def _label(entry: dict) -> str:
    """'reference', 'fast/fused', 'fast/graph', ..."""
    return entry["impl"] + ("/" + entry["variant"] if "variant" in entry else "")


def _name(entry: dict) -> str:
    """A row as the warning names it: 'fast/composed cpu P=16', 'sgemm 512x128 @ 128x128 x2'."""
    if entry["impl"] == "sgemm":
        return f"sgemm {entry['shape']} x{entry['population']}"
    return f"{_label(entry)} {entry['device']} P={entry['population']}"


def _row_name(row: Row) -> str:
    """_name of a row not yet turned into its entry."""
    return _name({"impl": row.impl, "device": row.device, "population": row.population,
                  **row.fields})  # fmt: skip


def _range(entry: dict, scale: float) -> str:
    """'min-max' of a row's steps per second over rounds, times scale."""
    return f"{scale * entry['steps_per_s_min']:.1f}-{scale * entry['steps_per_s_max']:.1f}"
