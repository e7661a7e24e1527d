"""Train a small MLP GAN on a toy distribution, with instance noise, and show how it went.

    python run.py --noise 0.1

trains, shows a progress bar, prints a summary and writes into a new folder --out:
samples.png (data and generated samples over D(x), and the loss curves), metrics.json
(reference/metrics.py's metrics, final losses, seconds, arguments, versions) and
history.csv (step, sigma, loss_D, loss_G, D_real, D_fake every --log-every steps). With
--population P > 1 it trains P GANs at once (seeds seed, seed + 1, ..., one --noise value
each) and writes population.csv (a row per GAN) instead of samples.png.

The outputs are built in a temporary folder beside --out and renamed into place at the end,
so --out is either complete or absent. The configuration checks itself (reference/gan.py's
GANConfig); this script turns what it rejects into one line and exit status 2.
"""

import argparse
import csv
import itertools
import json
import platform
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fast import device as fast_device
from figures import samples
from reference import gan, loss, metrics, noise
from reference.data import DATASETS, get_dataset

EXIT_BAD_ARGUMENTS, EXIT_NON_FINITE, EXIT_OUT_OF_MEMORY = 2, 3, 4
HISTORY_COLUMNS = ("step", "sigma", "loss_D", "loss_G", "D_real", "D_fake")
METRIC_NAMES = ("modes_captured", "modes_total", "high_quality_fraction", "reverse_kl",
                "energy_distance")  # fmt: skip
POPULATION_COLUMNS = ("gan", "seed", "noise", *METRIC_NAMES, "final_loss_D", "final_loss_G")
DEFAULTS = gan.GANConfig()
# The options whose names differ from the configuration field they set.
OPTION_OF_FIELD = {"sigma0": "--noise", "sigma0s": "--noise", "seeds": "--population"}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where the help already says what None means."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr naming the option and the value."""

    def error(self, message: str):
        # argparse says 'argument --noise: ...'; the option name alone reads better.
        self.exit(EXIT_BAD_ARGUMENTS, f"run.py: error: {message.removeprefix('argument ')}\n")


def noise_list(text: str) -> tuple[float, ...]:
    """'0.1' or '0,0.05,0.1': one sigma0 per GAN, or one for all (GANConfig checks each)."""
    try:
        return tuple(float(item) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="run.py",
        description="Train a small MLP GAN on a toy distribution, optionally with instance "
        "noise (Sonderby et al. 2016): real and generated samples both get N(0, sigma^2 I) "
        "added before the discriminator sees them.",
        epilog=f"Exit status: 0 done; {EXIT_BAD_ARGUMENTS} bad arguments (nothing written); "
        f"{EXIT_NON_FINITE} a loss turned non-finite (--out keeps history.csv and metrics.json "
        f"up to that step); {EXIT_OUT_OF_MEMORY} out of memory (nothing written).",
        formatter_class=HelpFormatter,
    )
    # fmt: off
    add = parser.add_argument_group("instance noise and label noise").add_argument
    add("--noise", type=noise_list, default=(DEFAULTS.sigma0,), help="initial instance-noise "
        "std sigma0; 0 turns instance noise off. With --population P, P values (one per GAN, "
        "comma-separated) or one for all")
    add("--anneal", choices=noise.ANNEAL_SCHEDULES, default=DEFAULTS.anneal, help="how sigma "
        "goes from sigma0 towards 0: linear reaches 0 at --anneal-steps, exponential 1%% there")
    add("--anneal-steps", type=int, help="the step at which annealing ends (default: --steps)")
    add("--label-smoothing", type=float, default=DEFAULTS.label_smoothing,
        help="one-sided label smoothing: the target of real labels (e.g. 0.9); 1 = none")
    add("--label-flip", type=float, default=DEFAULTS.label_flip,
        help="probability that each discriminator label is flipped")
    add = parser.add_argument_group("data, model and training").add_argument
    add("--dataset", choices=tuple(DATASETS), default=DEFAULTS.dataset, help="ring: 8 Gaussians "
        "on a circle; grid: 5x5 Gaussians; circle: a zero-width circle; ring3d: the ring in "
        "the plane x3 = 0 of 3-D; points: two point masses on a line")
    add("--steps", type=int, default=DEFAULTS.steps, help="training steps")
    add("--batch", type=int, default=DEFAULTS.batch, help="batch size B")
    add("--hidden", type=int, default=DEFAULTS.hidden,
        help=f"hidden width H of both networks ({gan.HIDDEN_LAYERS} hidden layers each)")
    add("--latent", type=int, default=DEFAULTS.latent, help="latent dimension Z")
    add("--lr", type=float, default=DEFAULTS.lr, help="Adam learning rate")
    add("--d-steps", type=int, default=DEFAULTS.d_steps,
        help="discriminator updates per generator update")
    add("--generator-loss", choices=loss.GENERATOR_LOSSES, default=DEFAULTS.generator_loss,
        help="non-saturating: minimise -log D(G(z)); minimax: minimise log(1 - D(G(z))), "
        "the game's own value, which saturates when D wins")
    add("--seed", type=int, default=DEFAULTS.seed,
        help="seeds the initial parameters and every random number of training and evaluation")
    add("--backend", choices=("fast", "reference"), default="fast", help="fast: float32 fused "
        "kernels (Numba on the CPU, CUDA on a GPU); reference: NumPy float64, written to be read")
    add("--device", choices=fast_device.DEVICES, default="auto",
        help="where --backend fast runs: auto takes the GPU when CuPy sees one, else the CPU")
    add("--population", type=int, default=1, help="train P independent GANs at once "
        "(--backend fast), GAN p with seed --seed + p and its own --noise value")
    add = parser.add_argument_group("output").add_argument
    add("--out", type=Path, help="the folder to create; must not exist (default: a new folder "
        "under runs/)")
    add("--log-every", type=int, default=10,
        help="write a history row and refresh the progress bar every this many steps")
    # fmt: on
    return parser


def parse(parser: ArgumentParser, argv: list[str]):
    """(args, members): the arguments, with --device and --out resolved, and one GANConfig
    per GAN. Exits with status 2 on anything invalid, before anything is written."""
    args = parser.parse_args(argv)
    P, noises = args.population, args.noise
    if len(noises) not in (1, P):
        listed = ",".join(f"{value:g}" for value in noises)
        parser.error(f"--noise: expected one value or one per GAN (--population {P}), got "
                     f"{listed!r}")  # fmt: skip
    if P > 1 and args.backend != "fast":
        parser.error(f"--population: {P} GANs need --backend fast")
    if args.log_every < 1:
        parser.error(f"--log-every: expected a positive integer, got {args.log_every}")
    try:
        config = gan.GANConfig(
            dataset=args.dataset, steps=args.steps, batch=args.batch, hidden=args.hidden,
            latent=args.latent, lr=args.lr, d_steps=args.d_steps, sigma0=noises[0],
            anneal=args.anneal, anneal_steps=args.anneal_steps or args.steps,
            label_smoothing=args.label_smoothing, label_flip=args.label_flip,
            generator_loss=args.generator_loss, seed=args.seed,
        )  # fmt: skip
        members = [config] if args.backend == "reference" else population(config, noises, P)
    except gan.ConfigError as error:
        field = error.field
        parser.error(f"{OPTION_OF_FIELD.get(field, '--' + field.replace('_', '-'))}: "
                     f"{str(error).removeprefix(field + ': ')}")  # fmt: skip
    args.anneal_steps = config.anneal_steps
    if args.backend == "reference" and args.device == "gpu":
        parser.error("--device: gpu needs --backend fast")
    try:
        args.device = "cpu" if args.backend == "reference" else fast_device.resolve(args.device)
    except fast_device.DeviceUnavailableError as unavailable:
        parser.error(f"--device: {unavailable}")
    if args.out is None:  # runs/<time>-<dataset>-noise<sigma0>-seed<seed>, counted if taken
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.dataset}-noise{config.sigma0:g}"
        args.out, count = Path("runs") / f"{stem}-seed{config.seed}", 1
        while args.out.exists():
            count += 1
            args.out = Path("runs") / f"{stem}-seed{config.seed}-{count}"
    if args.out.exists() or args.out.is_symlink():
        parser.error(f"--out: cannot create {str(args.out)!r}: it exists")
    try:
        args.out.absolute().parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"--out: cannot create {str(args.out)!r}: {error.strerror}")
    return args, members


def population(config: gan.GANConfig, noises: tuple[float, ...], P: int) -> list:
    """GAN p: seed --seed + p, sigma0 --noise[p] (or the one value for all)."""
    from fast import gan as fast_gan

    sigma0s = noises * P if len(noises) == 1 else noises
    seeds = tuple(config.seed + p for p in range(P))
    members = fast_gan.PopulationConfig(config, seeds, sigma0s)
    return [members.member(p) for p in range(P)]


def train(args, members: list[gan.GANConfig]):
    """(records, final): an iterator over each step's record of (P,) arrays, and a function
    returning the trained (theta_G, theta_D) as (P, n_params) float64 arrays."""
    if args.backend == "reference":
        (config,) = members
        state = gan.init_state(config)
        records = (
            {k: v if k == "step" else np.atleast_1d(v) for k, v in record.items()}
            for record in gan.train(config, state)
        )
        return records, lambda: (state.theta_G[None], state.theta_D[None])
    from fast import fused_step_cpu
    from fast import gan as fast_gan

    seeds, sigma0s = tuple(m.seed for m in members), tuple(m.sigma0 for m in members)
    population = fast_gan.PopulationConfig(members[0], seeds, sigma0s)
    state = fast_gan.init_state(population, args.device)
    if args.device == "cpu" and not fused_step_cpu.compiled():
        print("compiling the fast kernels (first run only: some seconds)...", file=sys.stderr)

    def final():
        return tuple(fast_device.to_host(theta).astype(np.float64)
                     for theta in (state.theta_G, state.theta_D))  # fmt: skip

    return fast_gan.train(population, state), final


def logged(records, steps: int, log_every: int):
    """The records of every log_every-th step and the last, under a progress bar that starts
    after the first step, so that its rate and time left leave out compiling."""
    records = iter(records)
    first = next(records)
    with tqdm(total=steps, initial=1, unit="step", dynamic_ncols=True) as bar:
        for record in itertools.chain([first], records):
            bar.update(record is not first)
            if record["step"] % log_every == 0 or record["step"] == steps - 1:
                # a population shows its median losses and its largest sigma
                bar.set_postfix(D=f"{np.median(record['loss_D']):.3f}",
                                G=f"{np.median(record['loss_G']):.3f}",
                                sigma=f"{np.max(record['sigma']):.3g}")  # fmt: skip
                yield record


def versions() -> dict:
    packages = ("numpy", "scipy", "numba", "matplotlib", "tqdm")
    return {"python": platform.python_version(), "platform": platform.platform(),
            **{name: version(name) for name in packages}}  # fmt: skip


def run(args, members: list[gan.GANConfig], folder: Path) -> dict:
    """Train, writing history.csv into folder as it goes, then evaluate and write the rest.
    Returns metrics.json's content; an 'error' entry when a loss turned non-finite."""
    started, config = time.perf_counter(), members[0]
    summary = {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "config": asdict(config), "seed": config.seed, "versions": versions(),
        "evaluation": {"samples": metrics.EVAL_SAMPLES, "counter_step": metrics.EVAL_STEP},
    }  # fmt: skip
    columns = ("step", "gan", *HISTORY_COLUMNS[1:]) if len(members) > 1 else HISTORY_COLUMNS
    history, last = [], None  # GAN 0's logged rows (what samples.png plots), the last record
    records, final = train(args, members)
    with (open(folder / "history.csv", "w", newline="") as file,
          np.errstate(over="ignore", invalid="ignore")):  # fmt: skip
        writer = csv.DictWriter(file, columns, extrasaction="ignore")
        writer.writeheader()
        try:
            for record in logged(records, config.steps, args.log_every):
                last, step = record, record["step"]
                # sigma from the float64 schedule: the record holds the float32 the kernels used
                rows = [{name: float(record[name][p]) for name in HISTORY_COLUMNS[2:]}
                        | {"step": step, "gan": p, "sigma": member.sigma(step)}
                        for p, member in enumerate(members)]  # fmt: skip
                writer.writerows(rows)
                history.append(rows[0])
        except gan.NonFiniteLossError as failure:
            gans = getattr(failure, "gans", [0])  # a population's error names its GANs
            writer.writerow({"gan": gans[0]} | failure.record)
            summary |= {"error": str(failure), "failed_step": failure.step, "failed_gans": gans}
    if "error" not in summary:
        summary |= evaluate(members, *final(), last, history, folder)
    return summary | {"seconds": time.perf_counter() - started}


def evaluate(members: list[gan.GANConfig], theta_G, theta_D, last, history, folder) -> dict:
    """Score every GAN's generator; write samples.png (one GAN) or population.csv. Returns
    what metrics.json adds: the metrics and final losses, or the per-GAN rows."""
    rows = []
    for p, member in enumerate(members):
        x_real, x_fake = metrics.evaluation_samples(member, theta_G[p])
        result = metrics.evaluate(get_dataset(member.dataset), x_real, x_fake)
        rows.append({"gan": p, "seed": member.seed, "noise": member.sigma0}
                    | {name: result[name] for name in METRIC_NAMES}
                    | {"final_loss_D": float(last["loss_D"][p]),
                       "final_loss_G": float(last["loss_G"][p])})  # fmt: skip
    if len(members) == 1:
        samples.plot(members[0], history, theta_D[0], x_real, x_fake, result,
                     folder / "samples.png")  # fmt: skip
        return result | {name: rows[0][name] for name in ("final_loss_D", "final_loss_G")}
    with open(folder / "population.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, POPULATION_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return {"noise_levels": noise_level_summary(rows), "gans": rows}


def noise_level_summary(rows: list[dict]) -> list[dict]:
    """Per distinct noise level: how many GANs, the fraction that captured every mode, and
    the mean of each metric."""
    summary = []
    for level in dict.fromkeys(row["noise"] for row in rows):
        group = [row for row in rows if row["noise"] == level]
        every_mode = [row["modes_captured"] == row["modes_total"] for row in group]
        summary.append({"noise": level, "gans": len(group),
                        "all_modes_fraction": float(np.mean(every_mode))}
                       | {f"mean_{name}": float(np.mean([row[name] for row in group]))
                          for name in METRIC_NAMES[:1] + METRIC_NAMES[2:]})  # fmt: skip
    return summary


def report(args, summary: dict) -> None:
    """The closing lines on stdout: the metrics, or one line per noise level."""
    names = "{population.csv,metrics.json,history.csv}" if args.population > 1 else \
        "{samples.png,metrics.json,history.csv}"  # fmt: skip
    for level in summary.get("noise_levels", []):
        print(f"noise {level['noise']:g}: {level['gans']} GAN(s), "
              f"{100 * level['all_modes_fraction']:.0f}% cover every mode, mean high-quality "
              f"fraction {level['mean_high_quality_fraction']:.3f}, mean reverse KL "
              f"{level['mean_reverse_kl']:.4f}")  # fmt: skip
    if args.population > 1:
        print(f"{args.population} GANs on {args.device}; {summary['seconds']:.1f} s; "
              f"wrote {args.out}/{names}")  # fmt: skip
        return
    print(f"modes covered {summary['modes_captured']}/{summary['modes_total']}, high-quality "
          f"fraction {summary['high_quality_fraction']:.3f}, reverse KL "
          f"{summary['reverse_kl']:.4f}, energy distance {summary['energy_distance']:.4f}\n"
          f"final losses D {summary['final_loss_D']:.4f}, G {summary['final_loss_G']:.4f}; "
          f"{summary['seconds']:.1f} s; wrote {args.out}/{names}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, members = parse(parser, sys.argv[1:] if argv is None else argv)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the temporary folder is removed.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    folder = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.absolute().parent))
    try:
        summary = run(args, members, folder)
        (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        folder.chmod(0o755)  # mkdtemp makes it private; --out is an ordinary folder
        folder.rename(args.out)  # fails, keeping nothing, if --out appeared meanwhile
    except MemoryError:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"run.py: out of memory: --batch {args.batch}, --hidden {args.hidden}, --latent "
              f"{args.latent}, --population {args.population} need more memory than this "
              "machine has", file=sys.stderr)  # fmt: skip
        return EXIT_OUT_OF_MEMORY
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # only a finished run reaches --out
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    if "error" in summary:
        print(f"run.py: stopped: {summary['error']}; kept history.csv and metrics.json in "
              f"{args.out}", file=sys.stderr)  # fmt: skip
        return EXIT_NON_FINITE
    report(args, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
