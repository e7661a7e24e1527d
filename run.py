"""Train a small MLP GAN on a toy distribution, with instance noise, and show how it went.

    python run.py --noise 0.1

trains, shows a progress bar, prints a summary and writes into a new folder --out:
samples.png (data and generated samples over D(x), and the loss curves), metrics.json
(reference/metrics.py's metrics, final losses, seconds, arguments, versions) and
history.csv (step, sigma, loss_D, loss_G, D_real, D_fake every --log-every steps). With
--population P > 1 it trains P GANs at once (seeds seed, seed + 1, ..., one --noise value
each) and writes population.csv (a row per GAN) instead of samples.png.

Ctrl-C or SIGTERM stops training after the step in progress and writes every output for the
state reached, with checkpoint.npz; `python run.py --resume FOLDER` continues bit for bit.
Every file is written under a temporary name and then renamed (reference/checkpoint.py).
The configuration checks itself (reference/gan.py's GANConfig); this script turns what it
rejects into one line and exit status 2, before anything is written.
"""

import argparse
import csv
import itertools
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fast import device as fast_device
from figures import samples
from reference import checkpoint, gan, loss, metrics, noise
from reference.checkpoint import write_atomically
from reference.data import DATASETS, get_dataset

EXIT_BAD_ARGUMENTS, EXIT_NON_FINITE, EXIT_OUT_OF_MEMORY = 2, 3, 4
EXIT_SIGNAL = 128  # + the signal's number, as a shell reports it: 130 Ctrl-C, 143 SIGTERM
RESUMABLE = ("steps", "log_every", "checkpoint_every")  # what --resume may change
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
        allow_abbrev=False,  # --resume must see every option given, by its full name
        description="Train a small MLP GAN on a toy distribution, optionally with instance "
        "noise (Sonderby et al. 2016): real and generated samples both get N(0, sigma^2 I) "
        "added before the discriminator sees them.",
        epilog=f"Exit status: 0 done; {EXIT_BAD_ARGUMENTS} bad arguments (nothing written); "
        f"{EXIT_NON_FINITE} a loss turned non-finite (--out keeps history.csv and metrics.json "
        f"up to that step); {EXIT_OUT_OF_MEMORY} out of memory; {EXIT_SIGNAL + 2} stopped by "
        f"Ctrl-C (SIGINT), {EXIT_SIGNAL + 15} by SIGTERM: --out then holds every output for "
        "the step reached and checkpoint.npz, and --resume continues it.",
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
    add("--population", type=int, default=1, metavar="P", help="train P independent GANs at once "
        "(--backend fast), GAN p with seed --seed + p and its own --noise value")
    add = parser.add_argument_group("output").add_argument
    add("--out", type=Path, metavar="FOLDER", help="the folder to create; must not exist "
        "(default: a new folder under runs/)")
    add("--log-every", type=int, default=10, metavar="N",
        help="write a history row and refresh the progress bar every this many steps")
    add("--checkpoint-every", type=int, default=1000, metavar="N", help="write checkpoint.npz "
        "every this many steps (and always at the end or when stopped)")
    add("--resume", type=Path, metavar="FOLDER", help="continue the run in this folder from "
        "its checkpoint.npz, with its arguments; only --steps, --log-every and "
        "--checkpoint-every may be given")
    # fmt: on
    return parser


def parse(parser: ArgumentParser, argv: list[str]):
    """(args, members, resumed): the arguments, with --device and --out resolved; one
    GANConfig per GAN; and (step, arrays) of the checkpoint --resume continues, or None.
    Exits with status 2 on anything invalid, before anything is written."""
    args, resumed = parser.parse_args(argv), None
    if args.resume is not None:
        args, resumed = resume_arguments(parser, argv, args)
    P, noises = args.population, args.noise
    if len(noises) not in (1, P):
        listed = ",".join(f"{value:g}" for value in noises)
        parser.error(f"--noise: expected one value or one per GAN (--population {P}), got "
                     f"{listed!r}")  # fmt: skip
    if P > 1 and args.backend != "fast":
        parser.error(f"--population: {P} GANs need --backend fast")
    for name in ("log_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive integer, got "
                         f"{getattr(args, name)}")  # fmt: skip
    members = configure(parser, args)
    if resumed is not None:  # the checkpoint's arrays must be the networks of its arguments
        spec_G, spec_D = members[0].generator_spec(), members[0].discriminator_spec()
        try:
            checkpoint.check_shapes(resumed[1], P, spec_G.n_params, spec_D.n_params)
        except checkpoint.CheckpointError as error:
            parser.error(f"--resume: {error}")
    if args.backend == "reference" and args.device == "gpu":
        parser.error("--device: gpu needs --backend fast")
    try:
        args.device = "cpu" if args.backend == "reference" else fast_device.resolve(args.device)
    except fast_device.DeviceUnavailableError as unavailable:
        parser.error(f"--device: {unavailable}")
    if resumed is None:
        make_out(parser, args, members[0])
    return args, members, resumed


def configure(parser: ArgumentParser, args) -> list[gan.GANConfig]:
    """One GANConfig per GAN (GAN p: seed --seed + p, sigma0 --noise[p]); what GANConfig or
    PopulationConfig rejects exits with status 2, naming the option."""
    try:
        config = gan.GANConfig(
            dataset=args.dataset, steps=args.steps, batch=args.batch, hidden=args.hidden,
            latent=args.latent, lr=args.lr, d_steps=args.d_steps, sigma0=args.noise[0],
            anneal=args.anneal, anneal_steps=args.anneal_steps or args.steps,
            label_smoothing=args.label_smoothing, label_flip=args.label_flip,
            generator_loss=args.generator_loss, seed=args.seed,
        )  # fmt: skip
        args.anneal_steps = config.anneal_steps
        if args.backend == "reference":
            return [config]
        from fast import gan as fast_gan

        P = args.population
        seeds = tuple(config.seed + p for p in range(P))
        population = fast_gan.PopulationConfig.seeded(
            config, seeds, args.noise * (P // len(args.noise))
        )
        return [population.member(p) for p in range(P)]
    except gan.ConfigError as error:
        field = error.field
        parser.error(f"{OPTION_OF_FIELD.get(field, '--' + field.replace('_', '-'))}: "
                     f"{str(error).removeprefix(field + ': ')}")  # fmt: skip


def make_out(parser: ArgumentParser, args, config: gan.GANConfig) -> None:
    """Create --out, or by default runs/<time>-<dataset>-noise<sigma0>-seed<seed> (counted
    if taken); an --out that exists, or cannot be made, exits with status 2."""
    if args.out is None:
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.dataset}-noise{config.sigma0:g}"
        args.out, count = Path("runs") / f"{stem}-seed{config.seed}", 1
        while args.out.exists():
            count += 1
            args.out = Path("runs") / f"{stem}-seed{config.seed}-{count}"
    try:
        args.out.mkdir(parents=True)
    except OSError as error:
        parser.error(f"--out: cannot create {str(args.out)!r}: {error.strerror}")


def resume_arguments(parser: ArgumentParser, argv: list[str], given):
    """The arguments stored in --resume's checkpoint, with the RESUMABLE options given here,
    and (step, arrays, stored arguments) of the checkpoint. Any other option given with
    another value, or a checkpoint that is missing, unreadable, stale or of another version,
    exits with status 2 and touches nothing."""
    try:
        step, stored, arrays = checkpoint.load(given.resume / "checkpoint.npz")
        lacking = sorted(set(vars(given)) - {"out", "resume"} - set(stored))
        if lacking:
            raise checkpoint.CheckpointError(f"its arguments lack {', '.join(lacking)}")
    except checkpoint.CheckpointError as error:
        parser.error(f"--resume: {error}")
    written = {action.dest for action in parser._actions for option in action.option_strings
               for word in argv if word == option or word.startswith(option + "=")}  # fmt: skip
    if "out" in written:
        parser.error(f"--out: cannot go with --resume, which writes into its own folder, "
                     f"{str(given.resume)!r}")  # fmt: skip
    for name in sorted(written - {"resume", *RESUMABLE}):
        # the same value the run has is no change: JSON stores tuples as lists
        if json.loads(json.dumps(getattr(given, name))) != stored[name]:
            parser.error(f"--{name.replace('_', '-')}: the run in {str(given.resume)!r} has "
                         f"{command_line(stored[name])}; --resume takes it from there, and "
                         "changing it would change the run")  # fmt: skip
    args = argparse.Namespace(**stored | {name: getattr(given, name) for name in RESUMABLE
                                          if name in written})  # fmt: skip
    args.noise, args.out, args.resume = tuple(args.noise), given.resume, given.resume
    if args.steps <= step:
        parser.error(f"--steps: the run in {str(given.resume)!r} has reached step {step}; "
                     f"give more to train on, got {args.steps}")  # fmt: skip
    return args, (step, arrays, stored)


def command_line(value) -> str:
    """A stored argument as it would be typed: 0.1,0.2 for a list, 0.1 for one value."""
    if isinstance(value, list):
        return ",".join(f"{item:g}" for item in value)
    return str(value)


def start_training(args, members: list[gan.GANConfig], resumed):
    """(arrays_of, start, records): a function giving the state's checkpoint arrays (fresh,
    or the checkpoint's), the first step, and an iterator over each step's record of (P,)
    host arrays from start on."""
    start, arrays, _ = resumed or (0, None, None)
    if args.backend == "reference":
        (config,) = members
        state = gan.init_state(config) if arrays is None else gan.load_state(config, arrays)
        records = ({k: v if k == "step" else np.atleast_1d(v) for k, v in record.items()}
                   for record in gan.train(config, state, start))  # fmt: skip
        return lambda: gan.state_arrays(state), start, records
    from fast import fused_step_cpu
    from fast import gan as fast_gan

    seeds, sigma0s = tuple(m.seed for m in members), tuple(m.sigma0 for m in members)
    population = fast_gan.PopulationConfig.seeded(members[0], seeds, sigma0s)
    if arrays is None:
        state = fast_gan.init_state(population, args.device)
    else:
        state = fast_gan.load_state(population, arrays, args.device)
    if args.device == "cpu" and not fused_step_cpu.compiled():
        print("compiling the fast kernels (first run only: some seconds)...", file=sys.stderr)
    return lambda: fast_gan.state_arrays(state), start, fast_gan.train(population, state, start)


def progress(records, steps: int, start: int, log_every: int):
    """The records, under a progress bar that starts after the first step, so that its rate
    and time left leave out compiling."""
    records = iter(records)
    first = next(records)
    with tqdm(total=steps, initial=start + 1, unit="step", dynamic_ncols=True) as bar:
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


def run(args, members: list[gan.GANConfig], resumed, stop: checkpoint.StopRequest) -> dict:
    """Train, writing history.csv as it goes and checkpoint.npz every --checkpoint-every
    steps, until --steps or a stop; then evaluate and write the rest. Returns metrics.json's
    content: 'interrupted_at' the step reached when stopped, 'error' when a loss turned
    non-finite."""
    started, config, folder = time.perf_counter(), members[0], args.out
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    evaluation = {"samples": metrics.EVAL_SAMPLES, "counter_step": metrics.EVAL_STEP}
    summary = {"arguments": arguments, "config": asdict(config), "seed": config.seed,
               "versions": versions(), "evaluation": evaluation}  # fmt: skip
    columns = ("step", "gan", *HISTORY_COLUMNS[1:]) if len(members) > 1 else HISTORY_COLUMNS
    arrays_of, reached, records = start_training(args, members, resumed)
    last = None  # the last record

    def save_checkpoint(step: int) -> None:
        os.fsync(file.fileno())  # the history before a checkpoint is on disk before it
        stored = {k: v for k, v in arguments.items() if k not in ("out", "resume")}
        checkpoint.save(folder / "checkpoint.npz", step, stored, arrays_of())

    old = resumed[2] if resumed else {"steps": 0, "log_every": 1}  # the run resumed, if any
    last_was_final = reached == old["steps"] and (reached - 1) % old["log_every"] != 0
    history = checkpoint.open_history(folder / "history.csv", columns, reached, last_was_final)
    # NumPy's overflow warnings off: an overflow is reported once, as the non-finite loss
    with history as file, np.errstate(over="ignore", invalid="ignore"):
        writer = csv.DictWriter(file, columns, extrasaction="ignore")
        try:
            for record in progress(records, config.steps, reached, args.log_every):
                last, step, reached = record, record["step"], record["step"] + 1
                if step % args.log_every == 0 or step == config.steps - 1:
                    # sigma from the float64 schedule: the record holds the kernels' float32
                    rows = [{name: float(record[name][p]) for name in HISTORY_COLUMNS[2:]}
                            | {"step": step, "gan": p, "sigma": member.sigma(step)}
                            for p, member in enumerate(members)]  # fmt: skip
                    writer.writerows(rows)
                    file.flush()  # a row is on the page as soon as it is logged
                if reached % args.checkpoint_every == 0:
                    save_checkpoint(reached)
                if stop.signum is not None:
                    break
        except gan.NonFiniteLossError as failure:
            gans = getattr(failure, "gans", [0])  # a population's error names its GANs
            writer.writerow({"gan": gans[0]} | failure.record)
            summary |= {"error": str(failure), "failed_step": failure.step, "failed_gans": gans}
        if "error" not in summary and reached % args.checkpoint_every != 0:
            save_checkpoint(reached)  # the step reached, unless the loop just saved it
    if "error" not in summary:
        if reached < config.steps:
            summary["interrupted_at"] = reached
        summary |= evaluate(members, arrays_of(), last, folder)
    return summary | {"seconds": time.perf_counter() - started}


def evaluate(members: list[gan.GANConfig], arrays: dict, last, folder: Path) -> dict:
    """Score every GAN's generator; write samples.png (one GAN) or population.csv. Returns
    what metrics.json adds: the metrics and final losses, or the per-GAN rows."""
    theta_G, theta_D = (arrays[name].astype(np.float64) for name in ("theta_G", "theta_D"))
    rows = []
    for p, member in enumerate(members):
        x_real, x_fake = metrics.evaluation_samples(member, theta_G[p])
        result = metrics.evaluate(get_dataset(member.dataset), x_real, x_fake)
        rows.append({"gan": p, "seed": member.seed, "noise": member.sigma0}
                    | {name: result[name] for name in METRIC_NAMES}
                    | {"final_loss_D": float(last["loss_D"][p]),
                       "final_loss_G": float(last["loss_G"][p])})  # fmt: skip
    if len(members) == 1:
        with open(folder / "history.csv", newline="") as file:  # every logged row, resumed too
            history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]
        write_atomically(folder / "samples.png", lambda path: samples.plot(
            members[0], history, theta_D[0], x_real, x_fake, result, path))  # fmt: skip
        return result | {name: rows[0][name] for name in ("final_loss_D", "final_loss_G")}

    checkpoint.write_csv(folder / "population.csv", POPULATION_COLUMNS, rows)
    return {"noise_levels": metrics.summary_by_noise_level(rows), "gans": rows}


def report(args, summary: dict) -> None:
    """The closing lines on stdout: the metrics, or one line per noise level."""
    figure = "population.csv" if args.population > 1 else "samples.png"
    names = f"{{{figure},metrics.json,history.csv,checkpoint.npz}}"
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
    stop = checkpoint.StopRequest()  # from here on Ctrl-C stops after a whole step
    try:
        args, members, resumed = parse(parser, sys.argv[1:] if argv is None else argv)
        summary = run(args, members, resumed, stop)
        content = json.dumps(summary, indent=2) + "\n"
        write_atomically(args.out / "metrics.json", lambda path: path.write_text(content))
    except MemoryError:
        if resumed is None and not (args.out / "checkpoint.npz").exists():
            shutil.rmtree(args.out, ignore_errors=True)  # this run's alone, and nothing in it
        print(f"run.py: out of memory: --batch {args.batch}, --hidden {args.hidden}, --latent "
              f"{args.latent}, --population {args.population} need more memory than this "
              "machine has", file=sys.stderr)  # fmt: skip
        return EXIT_OUT_OF_MEMORY
    finally:
        stop.restore()
    if "error" in summary:
        print(f"run.py: stopped: {summary['error']}; kept history.csv and metrics.json in "
              f"{args.out}", file=sys.stderr)  # fmt: skip
        return EXIT_NON_FINITE
    if "interrupted_at" in summary:
        print(
            f"run.py: interrupted at step {summary['interrupted_at']} of {args.steps}; kept "
            f"{args.out}/ (resume with: python run.py --resume {args.out})",
            file=sys.stderr,
        )
        return EXIT_SIGNAL + stop.signum
    report(args, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
