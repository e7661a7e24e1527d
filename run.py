"""Train one small MLP GAN on a 2-D toy distribution with instance noise, and show how it went.

    python run.py --noise 0.1

trains with the arguments below (python run.py --help lists them all), shows a progress bar,
prints a summary and writes into a new folder --out (never an existing one):

    samples.png    data and generated samples over D(x) as a heat map, and the loss curves
    metrics.json   reference/metrics.py's metrics, final losses, seconds, arguments, versions
    history.csv    one row per logged step: step, sigma, loss_D, loss_G, D_real, D_fake

With --population P > 1 it trains P GANs at once (fast backend; seeds seed, seed + 1, ...,
one --noise value each) and writes instead

    population.csv one row per GAN: gan, seed, noise, its metrics and final losses
    metrics.json   the per-GAN rows, a summary per noise level, seconds, arguments, versions
    history.csv    one row per GAN per logged step: step, gan, sigma, loss_D, ...

Everything is checked before anything is written; the outputs are built in a temporary
folder beside --out and renamed into place at the end, so --out is either complete or absent.
A run whose loss turns non-finite keeps what it wrote up to that step and exits with status 3.
"""

import argparse
import contextlib
import csv
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fast import device as fast_device
from reference import data, gan, loss, metrics, mlp, noise

EXIT_BAD_ARGUMENTS = 2
EXIT_NON_FINITE = 3
HISTORY_COLUMNS = ("step", "sigma", "loss_D", "loss_G", "D_real", "D_fake")
POPULATION_HISTORY_COLUMNS = ("step", "gan", "sigma", "loss_D", "loss_G", "D_real", "D_fake")
METRIC_NAMES = ("modes_captured", "modes_total", "high_quality_fraction", "reverse_kl",
                "energy_distance")  # fmt: skip
POPULATION_COLUMNS = ("gan", "seed", "noise", *METRIC_NAMES, "final_loss_D", "final_loss_G")
DEFAULTS = gan.GANConfig()


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr naming the option and the value."""

    def error(self, message: str):
        # argparse says 'argument --noise: ...'; the option name alone reads better.
        self.exit(EXIT_BAD_ARGUMENTS, f"run.py: error: {message.removeprefix('argument ')}\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where the help already says what None means."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def number(text: str, low: float, high: float, low_open: bool, description: str) -> float:
    """text as a finite float in [low, high] (or (low, high] with low_open), else an
    ArgumentTypeError whose message names the expectation and the value."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}")
    return value


def non_negative(text: str) -> float:
    return number(text, 0.0, math.inf, False, "a finite number >= 0")


def positive(text: str) -> float:
    return number(text, 0.0, math.inf, True, "a finite number > 0")


def probability(text: str) -> float:
    return number(text, 0.0, 1.0, False, "a probability in [0, 1]")


def smoothing(text: str) -> float:
    return number(text, 0.0, 1.0, True, "a target in (0, 1]")


def noise_list(text: str) -> tuple[float, ...]:
    """'0.1' or '0,0.05,0.1': one finite sigma0 >= 0 per GAN, or one for all."""
    if "," not in text:
        return (non_negative(text),)
    try:
        return tuple(non_negative(item) for item in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected finite numbers >= 0 separated by commas, got {text!r}"
        ) from None


def positive_int(text: str, maximum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or (maximum is not None and value > maximum):
        expected = "a positive integer" + ("" if maximum is None else f" up to {maximum}")
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def step_count(text: str) -> int:
    # The evaluation samples are drawn at counter step EVAL_STEP, which training must not reach.
    return positive_int(text, metrics.EVAL_STEP)


def population_size(text: str) -> int:
    # A population lives in one process; 2**20 GANs of the default size are already ~150 GB.
    return positive_int(text, 2**20)


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**64), got {text!r}")
    return value


def make_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="run.py",
        description="Train a small MLP GAN on a toy distribution, optionally with instance "
        "noise (Sonderby and Huszar 2016): real and generated samples both get N(0, sigma^2 I) "
        "added before the discriminator sees them.",
        epilog=f"Exit status: 0 done; {EXIT_BAD_ARGUMENTS} bad arguments (nothing written); "
        f"{EXIT_NON_FINITE} a loss turned non-finite (--out keeps history.csv and metrics.json "
        "up to that step).",
        formatter_class=HelpFormatter,
    )
    noise_group = parser.add_argument_group("instance noise and label noise")
    noise_group.add_argument(
        "--noise",
        type=noise_list,
        default=(DEFAULTS.noise,),
        help="initial instance-noise std sigma0; 0 turns instance noise off. With "
        "--population P, a comma-separated list of P values (one per GAN) or one for all",
    )
    noise_group.add_argument(
        "--anneal",
        choices=noise.ANNEAL_SCHEDULES,
        default=DEFAULTS.anneal,
        help="how sigma goes from sigma0 towards 0: linear reaches 0 at --anneal-steps, "
        "exponential reaches 1%% of sigma0 there",
    )
    noise_group.add_argument(
        "--anneal-steps",
        type=positive_int,
        default=None,
        help="the step at which the annealing schedule ends (default: --steps)",
    )
    noise_group.add_argument(
        "--label-smoothing",
        type=smoothing,
        default=DEFAULTS.label_smoothing,
        help="one-sided label smoothing: the target of real labels (e.g. 0.9); 1 = none",
    )
    noise_group.add_argument(
        "--label-flip",
        type=probability,
        default=DEFAULTS.label_flip,
        help="probability that each discriminator label is flipped",
    )
    model = parser.add_argument_group("data, model and training")
    model.add_argument(
        "--dataset",
        choices=tuple(data.DATASETS),
        default=DEFAULTS.dataset,
        help="ring: 8 Gaussians on a circle; grid: 5x5 Gaussians; circle: a zero-width circle; "
        "ring3d: the ring in the plane x3 = 0 of 3-D; points: two point masses on a line",
    )
    model.add_argument("--steps", type=step_count, default=DEFAULTS.steps, help="training steps")
    model.add_argument("--batch", type=positive_int, default=DEFAULTS.batch, help="batch size B")
    model.add_argument(
        "--hidden",
        type=positive_int,
        default=DEFAULTS.hidden,
        help=f"hidden width H of both networks ({gan.HIDDEN_LAYERS} hidden layers each)",
    )
    model.add_argument(
        "--latent", type=positive_int, default=DEFAULTS.latent, help="latent dimension Z"
    )
    model.add_argument("--lr", type=positive, default=DEFAULTS.lr, help="Adam learning rate")
    model.add_argument(
        "--d-steps",
        type=positive_int,
        default=DEFAULTS.d_steps,
        help="discriminator updates per generator update",
    )
    model.add_argument(
        "--generator-loss",
        choices=loss.GENERATOR_LOSSES,
        default=DEFAULTS.generator_loss,
        help="non-saturating: minimise -log D(G(z)); minimax: minimise log(1 - D(G(z))), "
        "the game's own value, which saturates when D wins",
    )
    model.add_argument(
        "--seed",
        type=seed,
        default=DEFAULTS.seed,
        help="seeds the initial parameters and every random number of training and evaluation",
    )
    model.add_argument(
        "--backend",
        choices=tuple(BACKENDS),
        default="fast",
        help="fast: float32 fused kernels (Numba on the CPU, CUDA on a GPU); "
        "reference: NumPy float64, written to be read",
    )
    model.add_argument(
        "--device",
        choices=fast_device.DEVICES,
        default="auto",
        help="where --backend fast runs: auto takes the GPU when CuPy sees one, else the CPU",
    )
    model.add_argument(
        "--population",
        type=population_size,
        default=1,
        help="train P independent GANs at once (--backend fast), GAN p with seed --seed + p "
        "and its own --noise value; one row of metrics per GAN in population.csv",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the folder to create for the outputs; must not exist "
        "(default: a new folder under runs/)",
    )
    output.add_argument(
        "--log-every",
        type=positive_int,
        default=10,
        help="write a history row and refresh the progress bar every this many steps",
    )
    return parser


def default_out(config: gan.GANConfig) -> Path:
    """runs/<time>-<dataset>-noise<sigma0>-seed<seed>, with a counter if that exists."""
    stem = (
        f"{time.strftime('%Y%m%d-%H%M%S')}-{config.dataset}-noise{config.noise:g}-seed{config.seed}"
    )
    candidate, count = Path("runs") / stem, 1
    while candidate.exists():
        count += 1
        candidate = Path("runs") / f"{stem}-{count}"
    return candidate


def check_out(out: Path) -> str | None:
    """Why out cannot be created, or None: it must not exist, and its nearest existing
    ancestor must be a folder we may write into."""
    if out.exists() or out.is_symlink():
        return "exists"
    ancestor = out.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable"
    return None


def parse_config(
    parser: ArgumentParser, argv: list[str]
) -> tuple[argparse.Namespace, gan.GANConfig]:
    """The parsed arguments, with --out resolved, and the run's GANConfig; exits with status 2
    on anything invalid."""
    args = parser.parse_args(argv)
    if args.anneal_steps is None:
        args.anneal_steps = args.steps
    noises, P = args.noise, args.population
    if len(noises) not in (1, P):
        listed = ",".join(f"{value:g}" for value in noises)
        expected = "one value" if P == 1 else f"one value or {P} (one per GAN)"
        parser.error(f"--noise: expected {expected} for --population {P}, got {listed!r}")
    args.noise = noises * P if len(noises) == 1 else noises
    if P > 1 and args.backend != "fast":
        parser.error(f"--population: {P} GANs need --backend fast")
    if args.seed + P > 2**64:
        parser.error(f"--seed: the seeds --seed + p must stay below 2**64, got {args.seed}")
    if args.backend == "reference" and args.device == "gpu":
        parser.error("--device: gpu needs --backend fast")
    if args.backend == "reference":
        args.device = "cpu"
    else:
        try:
            args.device = fast_device.resolve(args.device)
        except fast_device.DeviceUnavailableError as unavailable:
            parser.error(f"--device: {unavailable}")
    config = gan.GANConfig(
        dataset=args.dataset,
        steps=args.steps,
        batch=args.batch,
        hidden=args.hidden,
        latent=args.latent,
        lr=args.lr,
        d_steps=args.d_steps,
        noise=args.noise[0],
        anneal=args.anneal,
        anneal_steps=args.anneal_steps,
        label_smoothing=args.label_smoothing,
        label_flip=args.label_flip,
        generator_loss=args.generator_loss,
        seed=args.seed,
    )
    if args.out is None:
        args.out = default_out(config)
    problem = check_out(args.out)
    if problem is not None:
        parser.error(f"--out: cannot create {str(args.out)!r}: {problem}")
    return args, config


def train_reference(config: gan.GANConfig, args: argparse.Namespace):
    """(records, final) for the NumPy reference: an iterator over gan.train's records, and a
    function returning the trained (theta_G, theta_D) as float64."""
    state = gan.init_state(config)
    return gan.train(config, state), lambda: (state.theta_G, state.theta_D)


def population_config(config: gan.GANConfig, args: argparse.Namespace):
    from fast import gan as fast_gan

    seeds = tuple(config.seed + p for p in range(args.population))
    return fast_gan.PopulationConfig(config, seeds, tuple(args.noise))


def train_fast(config: gan.GANConfig, args: argparse.Namespace):
    """(records, final) for the fast path on args.device: GAN p of the population is the
    reference GAN with seed --seed + p and noise --noise[p]. A record holds (P,) arrays;
    final returns the trained (theta_G, theta_D) as (P, n) float64 host arrays."""
    from fast import gan as fast_gan

    population = population_config(config, args)
    state = fast_gan.init_state(population, args.device)

    def final():
        return tuple(
            fast_device.to_host(theta).astype(np.float64)
            for theta in (state.theta_G, state.theta_D)
        )

    return fast_gan.train(population, state), final


def train_fast_one(config: gan.GANConfig, args: argparse.Namespace):
    """train_fast for one GAN, with the reference's record and parameter shapes."""
    records, final = train_fast(config, args)
    # sigma from the float64 schedule: the record holds the float32 the kernels used.
    scalar_records = (
        {name: value if name == "step" else float(value[0]) for name, value in record.items()}
        | {"sigma": config.sigma(record["step"])}
        for record in records
    )
    return scalar_records, lambda: tuple(theta[0] for theta in final())


BACKENDS = {"fast": train_fast_one, "reference": train_reference}


def versions() -> dict:
    packages = ("numpy", "scipy", "numba", "matplotlib", "tqdm")
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: version(name) for name in packages},
    }


@contextlib.contextmanager
def history_csv(folder: Path, columns: tuple[str, ...]) -> Iterator[csv.DictWriter]:
    """A csv writer on folder/history.csv, header written. NumPy's overflow warnings are off
    while it is open: an overflow is reported once, as the NonFiniteLossError it causes."""
    with (
        open(folder / "history.csv", "w", newline="") as file,
        np.errstate(over="ignore", invalid="ignore"),
    ):
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        yield writer


def logged(records: Iterator[dict], config: gan.GANConfig, args, postfix) -> Iterator[dict]:
    """The records of the logged steps (every --log-every steps, and the last), with a
    progress bar over every step showing postfix(record)."""
    with tqdm(total=config.steps, unit="step", dynamic_ncols=True) as bar:
        for record in records:
            if record["step"] % args.log_every == 0 or record["step"] == config.steps - 1:
                bar.set_postfix(postfix(record))
                yield record
            bar.update()


def train_and_log(config: gan.GANConfig, args: argparse.Namespace, folder: Path):
    """Train, writing history.csv in folder as it goes. Returns (history rows, final
    parameters or None, the NonFiniteLossError that stopped training or None)."""
    records, final = BACKENDS[args.backend](config, args)
    history, error = [], None

    def postfix(record):
        return {
            "D": f"{record['loss_D']:.3f}",
            "G": f"{record['loss_G']:.3f}",
            "sigma": f"{record['sigma']:.3g}",
        }

    with history_csv(folder, HISTORY_COLUMNS) as writer:
        try:
            for record in logged(records, config, args, postfix):
                history.append(record)
                writer.writerow(record)
        except gan.NonFiniteLossError as failure:
            history.append(failure.record)
            writer.writerow(failure.record)
            error = failure
    return history, (None if error else final()), error


def discriminator_output(config: gan.GANConfig, theta_D: np.ndarray, x: np.ndarray) -> np.ndarray:
    """D(x) = sigmoid(logit): (N,) for x: (N, D)."""
    logit, _ = mlp.forward(config.discriminator_spec(), theta_D, x)
    return loss.sigmoid(logit[:, 0])


def noise_description(config: gan.GANConfig) -> str:
    if config.noise == 0:
        return "no instance noise"
    if config.anneal == "none":
        return f"instance noise σ = {config.noise:g}"
    return f"instance noise σ0 = {config.noise:g}, {config.anneal} over {config.anneal_steps} steps"


def plot(config, history, theta_D, x_real, x_fake, result, path: Path) -> None:
    """samples.png: D(x) with the evaluation samples on the left, the losses on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(
        1, 2, figsize=(11, 4.8), gridspec_kw={"width_ratios": [1.1, 1]}
    )
    shown = slice(0, 600)  # enough points to see the modes, few enough to see the heat map
    if config.dim == 1:
        both = np.concatenate([x_real[:, 0], x_fake[:, 0]])
        low, high = np.percentile(both, [0.5, 99.5])
        margin = 0.25 * max(high - low, 1.0)
        grid = np.linspace(low - margin, high + margin, 400)
        left.plot(grid, discriminator_output(config, theta_D, grid[:, None]), "k-", label="D(x)")
        bins = np.linspace(low - margin, high + margin, 81)
        for x, hatch, name in ((x_real, "//", "data"), (x_fake, "..", "generated")):
            weights = np.full(len(x), 1.0 / len(x))
            left.hist(x[:, 0], bins, weights=weights, histtype="step", hatch=hatch, label=name)
        left.set_xlabel("x")
        left.set_ylabel("D(x); fraction of samples per bin")
        left.legend(loc="upper right", fontsize=8)
    else:
        both = np.concatenate([x_real[:, :2], x_fake[:, :2]])
        low = np.minimum(np.percentile(both, 0.5, axis=0), x_real[:, :2].min(axis=0))
        high = np.maximum(np.percentile(both, 99.5, axis=0), x_real[:, :2].max(axis=0))
        centre, half = (low + high) / 2, 0.6 * (high - low).max() + 0.1
        axis = [np.linspace(c - half, c + half, 200) for c in centre]
        mesh = np.stack(np.meshgrid(*axis, indexing="xy"), axis=-1).reshape(-1, 2)
        # ring3d: the heat map is the slice x3 = 0, where the data lies.
        mesh = np.concatenate([mesh, np.zeros((len(mesh), config.dim - 2))], axis=1)
        d_grid = discriminator_output(config, theta_D, mesh).reshape(200, 200)
        image = left.pcolormesh(*axis, d_grid, cmap="cividis", vmin=0, vmax=1, shading="auto")
        figure.colorbar(
            image, ax=left, label="D(x) = P(real)" + (", slice x3 = 0" * (config.dim > 2))
        )
        left.scatter(
            *x_fake[shown, :2].T,
            s=14,
            marker="x",
            color="#d62728",
            linewidth=0.9,
            label="generated",
        )
        # Data on top: its modes are tighter than the generated clouds that cover them.
        left.scatter(
            *x_real[shown, :2].T,
            s=10,
            marker="o",
            facecolor="white",
            edgecolor="black",
            linewidth=0.5,
            label="data",
        )
        left.set_xlim(centre[0] - half, centre[0] + half)
        left.set_ylim(centre[1] - half, centre[1] + half)
        left.set_aspect("equal")
        left.set_xlabel("x1")
        left.set_ylabel("x2" + (" (samples projected along x3)" * (config.dim > 2)))
        left.legend(loc="upper right", fontsize=8, framealpha=0.9)
    left.set_title(
        f"modes {result['modes_captured']}/{result['modes_total']}, "
        f"high quality {100 * result['high_quality_fraction']:.0f}%, "
        f"reverse KL {result['reverse_kl']:.3f}",
        fontsize=10,
    )
    steps = [row["step"] for row in history]
    right.plot(steps, [row["loss_D"] for row in history], label="D loss", color="#1f77b4")
    right.plot(steps, [row["loss_G"] for row in history], "--", label="G loss", color="#d62728")
    right.axhline(math.log(2), color="black", linewidth=0.8, linestyle=":", label="log 2")
    right.set_xlabel("step")
    right.set_ylabel("loss")
    right.set_title("losses (log 2: both at the equilibrium D = 1/2)", fontsize=10)
    if config.noise > 0:
        sigma_axis = right.twinx()
        sigma_axis.plot(steps, [row["sigma"] for row in history], "-.", color="grey", label="σ")
        sigma_axis.set_ylabel("instance-noise σ", color="grey")
        # Twice sigma0 at the top keeps the sigma curve clear of the legend.
        sigma_axis.set_ylim(0, 2.0 * config.noise)
        lines, labels = right.get_legend_handles_labels()
        sigma_lines, sigma_labels = sigma_axis.get_legend_handles_labels()
        right.legend(lines + sigma_lines, labels + sigma_labels, loc="upper right", fontsize=8)
    else:
        right.legend(loc="upper right", fontsize=8)
    figure.suptitle(
        f"{config.dataset}: {noise_description(config)}, "
        f"label smoothing {config.label_smoothing:g}, flip {config.label_flip:g}, "
        f"{config.steps} steps, batch {config.batch}, seed {config.seed}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def train_population(config: gan.GANConfig, args: argparse.Namespace, folder: Path):
    """Train args.population GANs at once, writing history.csv (a row per GAN per logged
    step) in folder as it goes. Returns (the last logged record, final parameters or None,
    the NonFiniteLossError that stopped training or None)."""
    records, final = train_fast(config, args)
    population, last, error = population_config(config, args), None, None

    def postfix(record):
        return {
            "D": f"{np.median(record['loss_D']):.3f}",
            "G": f"{np.median(record['loss_G']):.3f}",
        }

    with history_csv(folder, POPULATION_HISTORY_COLUMNS) as writer:
        try:
            for record in logged(records, config, args, postfix):
                last, step = record, record["step"]
                writer.writerows(
                    {"step": step, "gan": p}
                    | {name: float(record[name][p]) for name in HISTORY_COLUMNS[1:]}
                    | {"sigma": population.member(p).sigma(step)}
                    for p in range(args.population)
                )
        except gan.NonFiniteLossError as failure:
            writer.writerow({"gan": failure.gans[0]} | failure.record)
            error = failure
    return last, (None if error else final()), error


def evaluate_population(config: gan.GANConfig, args, last: dict, theta_G) -> list[dict]:
    """One row per GAN: its seed and noise, the metrics of its generator (evaluated like a
    single run's) and its final losses."""
    population, rows = population_config(config, args), []
    for p in range(args.population):
        member = population.member(p)
        x_real, x_fake = metrics.evaluation_samples(member, theta_G[p])
        result = metrics.evaluate(data.get_dataset(config.dataset), x_real, x_fake)
        rows.append(
            {"gan": p, "seed": member.seed, "noise": member.noise}
            | {name: result[name] for name in METRIC_NAMES}
            | {"final_loss_D": float(last["loss_D"][p]), "final_loss_G": float(last["loss_G"][p])}
        )
    return rows


def noise_level_summary(rows: list[dict]) -> list[dict]:
    """Per distinct noise level: how many GANs, the fraction that captured every mode, and
    the mean of each metric."""
    summary = []
    for level in dict.fromkeys(row["noise"] for row in rows):
        group = [row for row in rows if row["noise"] == level]
        summary.append(
            {
                "noise": level,
                "gans": len(group),
                "all_modes_fraction": float(
                    np.mean([row["modes_captured"] == row["modes_total"] for row in group])
                ),
            }
            | {f"mean_{name}": float(np.mean([row[name] for row in group])) for name in
               ("modes_captured", "high_quality_fraction", "reverse_kl", "energy_distance")}
        )  # fmt: skip
    return summary


def write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n")


def run(args: argparse.Namespace, config: gan.GANConfig) -> int:
    """Train, evaluate and write --out; returns the exit status."""
    args.out.absolute().parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.absolute().parent))
    try:
        started = time.perf_counter()
        summary = {
            "arguments": {
                name: str(value) if isinstance(value, Path) else value
                for name, value in vars(args).items()
            },
            "config": asdict(config),
            "seed": config.seed,
            "evaluation": {"samples": metrics.EVAL_SAMPLES, "counter_step": metrics.EVAL_STEP},
            "versions": versions(),
        }
        if args.population > 1:
            last, final, error = train_population(config, args, folder)
        else:
            history, final, error = train_and_log(config, args, folder)
        if error is None and args.population > 1:
            rows = evaluate_population(config, args, last, final[0])
            with open(folder / "population.csv", "w", newline="") as file:
                writer = csv.DictWriter(file, POPULATION_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
            summary |= {"noise_levels": noise_level_summary(rows), "gans": rows}
        elif error is None:
            theta_G, theta_D = final
            x_real, x_fake = metrics.evaluation_samples(config, theta_G)
            result = metrics.evaluate(data.get_dataset(config.dataset), x_real, x_fake)
            plot(config, history, theta_D, x_real, x_fake, result, folder / "samples.png")
            summary |= {
                "final_loss_D": history[-1]["loss_D"],
                "final_loss_G": history[-1]["loss_G"],
            }
            summary = result | summary
        else:
            summary |= {"error": str(error), "failed_step": error.step}
            if args.population > 1:
                summary["failed_gans"] = error.gans
        summary["seconds"] = time.perf_counter() - started
        write_json(folder / "metrics.json", summary)
        if args.out.exists():
            raise FileExistsError(f"{args.out} appeared during the run")
        folder.chmod(0o755)  # mkdtemp makes it private; --out is an ordinary folder
        folder.rename(args.out)
    except BaseException:
        # Only a finished run, or one stopped by a non-finite loss, reaches --out.
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if error is not None:
        print(
            f"run.py: stopped: {error}; kept history.csv and metrics.json in {args.out}",
            file=sys.stderr,
        )
        return EXIT_NON_FINITE
    if args.population > 1:
        for level in summary["noise_levels"]:
            print(
                f"noise {level['noise']:g}: {level['gans']} GAN(s), "
                f"{100 * level['all_modes_fraction']:.0f}% cover every mode, "
                f"mean high-quality fraction {level['mean_high_quality_fraction']:.3f}, "
                f"mean reverse KL "
                f"{level['mean_reverse_kl']:.4f}"
            )
        print(
            f"{args.population} GANs on {args.device}; {summary['seconds']:.1f} s; "
            f"wrote {args.out}/{{population.csv,metrics.json,history.csv}}"
        )
        return 0
    print(
        f"modes covered {result['modes_captured']}/{result['modes_total']}, "
        f"high-quality fraction {result['high_quality_fraction']:.3f}, "
        f"reverse KL {result['reverse_kl']:.4f}, energy distance {result['energy_distance']:.4f}\n"
        f"final losses D {summary['final_loss_D']:.4f}, G {summary['final_loss_G']:.4f}; "
        f"{summary['seconds']:.1f} s; wrote {args.out}/{{samples.png,metrics.json,history.csv}}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args, config = parse_config(parser, sys.argv[1:] if argv is None else argv)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so run() removes its temporary folder.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return run(args, config)
    except MemoryError:
        parser.error(
            f"--batch {args.batch}, --hidden {args.hidden}, --latent {args.latent}, "
            f"--population {args.population}: more memory than this machine has"
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
