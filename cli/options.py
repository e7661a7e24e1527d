"""run.py's options: the command-line form of a run's configuration, for either backend.

parse makes them a Run: the arguments, and the run's GANs as one population of reference
GANConfigs (a reference run's: a population of one), each of which checks itself
(GANConfig.__post_init__). `--resume FOLDER` takes the options from the folder's checkpoint
(cli/checkpoint.py), accepting only RESUMABLE ones anew, and the Run carries the checkpoint
as a Resume. Whatever is rejected becomes one line naming the option, and exit status 2
(cli/exits.py), before anything is written; make_out then creates a new run's folder.
"""

import argparse
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cli import checkpoint, exits
from fast import device as fast_device
from fast import gan as fast_gan
from reference import loss, noise, penalty
from reference.config import HIDDEN_LAYERS, ConfigError, GANConfig
from reference.data import DATASETS

RESUMABLE = ("steps", "log_every", "checkpoint_every")  # what --resume may change
DEFAULTS = GANConfig()
# The options whose names differ from the configuration field they set.
OPTION_OF_FIELD = {"seeds": "--population"}
PER_GAN_LISTS = ("sigma0", "gamma")  # the options that take one value per GAN, or one for all
# Stored arguments without these options are of a run made without a penalty: these values
# reproduce it (checkpoint.upgrade).
UNPENALISED = {"penalty": "none", "gamma": [0.0]}


@dataclass(frozen=True)
class Resume:
    """The checkpoint that --resume continues: its step (the next one to run), its arrays
    (checkpoint.STATE_ARRAYS) and the arguments stored with them, upgraded."""

    step: int
    arrays: dict
    arguments: dict


@dataclass(frozen=True)
class Run:
    """A run as parsed: its arguments (--device and --out resolved; with --resume, the
    checkpoint's), its GANs as one population, and the checkpoint it resumes, if any."""

    args: argparse.Namespace
    population: fast_gan.PopulationConfig
    resume: Resume | None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where the help already says what None means."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr naming the option and the value."""

    def error(self, message: str):
        # argparse says 'argument --sigma0: ...'; the option name alone reads better.
        self.exit(exits.BAD_ARGUMENTS, f"run.py: error: {message.removeprefix('argument ')}\n")


def number_list(text: str) -> tuple[float, ...]:
    """'0.1' or '0,0.05,0.1': one value per GAN, or one for all (GANConfig checks each)."""
    try:
        return tuple(float(item) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None


def make_parser() -> ArgumentParser:
    """run.py's parser: the table of its options, one call each (hence its length)."""
    parser = ArgumentParser(
        prog="run.py",
        allow_abbrev=False,  # --resume must see every option given, by its full name
        description="Train a small MLP GAN on a toy distribution, optionally with instance "
        "noise (Sonderby et al. 2016): real and generated samples both get N(0, sigma^2 I) "
        "added before the discriminator sees them.",
        epilog=f"Exit status: {exits.OK} done; {exits.BAD_ARGUMENTS} bad arguments (nothing "
        f"written); {exits.NON_FINITE} a loss turned non-finite (--out keeps history.csv and "
        f"metrics.json up to that step); {exits.OUT_OF_MEMORY} out of memory; "
        f"{exits.SIGNAL + 2} stopped by Ctrl-C (SIGINT), {exits.SIGNAL + 15} by SIGTERM: --out "
        "then holds every output for the step reached and checkpoint.npz, and --resume "
        "continues it.",
        formatter_class=HelpFormatter,
    )
    # fmt: off
    add = parser.add_argument_group("instance noise, label noise and penalties").add_argument
    add("--sigma0", type=number_list, default=(DEFAULTS.sigma0,), help="initial instance-noise "
        "std sigma0; 0 turns instance noise off. With --population P, P values (one per GAN, "
        "comma-separated) or one for all")
    add("--anneal", choices=noise.ANNEAL_SCHEDULES, default=DEFAULTS.anneal, help="how sigma "
        "goes from sigma0 towards 0: linear reaches 0 at --anneal-steps, exponential 1%% there")
    add("--anneal-steps", type=int, help="the step at which annealing ends (default: --steps)")
    add("--real-target", type=float, default=DEFAULTS.real_target,
        help="one-sided label smoothing: the target of real labels (e.g. 0.9); 1 = none")
    add("--label-flip", type=float, default=DEFAULTS.label_flip,
        help="probability that each discriminator label is flipped")
    add("--penalty", choices=penalty.PENALTIES, default=DEFAULTS.penalty, help="a gradient "
        "penalty on D, instance noise's analytic cousin: r1 on real samples, r2 on fake ones "
        "(Mescheder et al. 2018), roth (Roth et al. 2017); CPU only")
    add("--gamma", type=number_list, default=(DEFAULTS.gamma,), help="the penalty's weight "
        "(> 0 with a penalty), annealed by --anneal as sigma is; with --population P, P values "
        "or one for all, a GAN of weight 0 training without the penalty")
    add = parser.add_argument_group("data, model and training").add_argument
    add("--dataset", choices=tuple(DATASETS), default=DEFAULTS.dataset, help="ring: 8 Gaussians "
        "on a circle; grid: 5x5 Gaussians; circle: a zero-width circle; ring3d: the ring in "
        "the plane x3 = 0 of 3-D; points: two point masses on a line")
    add("--steps", type=int, default=DEFAULTS.steps, help="training steps")
    add("--batch", type=int, default=DEFAULTS.batch, help="batch size B")
    add("--hidden", type=int, default=DEFAULTS.hidden,
        help=f"hidden width H of both networks ({HIDDEN_LAYERS} hidden layers each)")
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
        "(--backend fast), GAN p with seed --seed + p and its own --sigma0 value")
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


def parse(parser: ArgumentParser, argv: list[str]) -> Run:
    """The Run that argv asks for: --device resolved, --out named (make_out creates it),
    and with --resume its checkpoint. Exits with status 2 on anything invalid, writing
    nothing."""
    args, resume = parser.parse_args(argv), None
    if args.resume is not None:
        args, resume = resume_arguments(parser, argv, args)
    P = args.population
    for name in PER_GAN_LISTS:
        values = getattr(args, name)
        if len(values) not in (1, P):
            listed = ",".join(f"{value:g}" for value in values)
            parser.error(f"--{name}: expected one value or one per GAN (--population {P}), "
                         f"got {listed!r}")  # fmt: skip
    if P > 1 and args.backend != "fast":
        parser.error(f"--population: {P} GANs need --backend fast")
    for name in ("log_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive integer, got "
                         f"{getattr(args, name)}")  # fmt: skip
    population = configure(parser, args)
    if resume is not None:  # the checkpoint's arrays must be the networks of its arguments
        spec_G, spec_D = population.base.generator_spec(), population.base.discriminator_spec()
        try:
            checkpoint.check_shapes(resume.arrays, P, spec_G.n_params, spec_D.n_params)
        except checkpoint.CheckpointError as error:
            parser.error(f"--resume: {error}")
    if args.backend == "reference" and args.device == "gpu":
        parser.error("--device: gpu needs --backend fast")
    try:
        args.device = ("cpu" if args.backend == "reference"
                       else fast_gan.resolve_device(population, args.device))  # fmt: skip
    except fast_device.DeviceUnavailableError as unavailable:
        parser.error(f"--device: {unavailable}")
    except ConfigError as error:  # what the GPU cannot run
        config_error(parser, error)
    args.out = args.out or default_out(population.base)
    return Run(args, population, resume)


def configure(parser: ArgumentParser, args) -> fast_gan.PopulationConfig:
    """The population of one GANConfig per GAN (GAN p: seed --seed + p, sigma0
    --sigma0[p], gamma --gamma[p], and no penalty where its gamma is 0 but another GAN's is
    not: the population's unpenalised arm); what GANConfig or PopulationConfig rejects
    exits with status 2, naming the option (among it a penalty whose weights are all 0)."""
    try:
        first_gamma = args.gamma[0] if args.gamma[0] != 0 else max(args.gamma, key=abs)
        config = GANConfig(
            dataset=args.dataset, steps=args.steps, batch=args.batch, hidden=args.hidden,
            latent=args.latent, lr=args.lr, d_steps=args.d_steps, sigma0=args.sigma0[0],
            anneal=args.anneal, anneal_steps=args.anneal_steps or args.steps,
            real_target=args.real_target, label_flip=args.label_flip,
            penalty=args.penalty, gamma=first_gamma, generator_loss=args.generator_loss,
            seed=args.seed,
        )  # fmt: skip
        args.anneal_steps = config.anneal_steps
        if args.backend == "reference":
            return fast_gan.PopulationConfig((config,))
        P = args.population
        sigma0s, gammas = (values * (P // len(values)) for values in (args.sigma0, args.gamma))
        members = tuple(replace(config, seed=config.seed + p, sigma0=sigma0s[p], gamma=gammas[p],
                                penalty=config.penalty if gammas[p] != 0 else "none")
                        for p in range(P))  # fmt: skip
        return fast_gan.PopulationConfig(members)
    except ConfigError as error:
        config_error(parser, error)


def config_error(parser: ArgumentParser, error: ConfigError):
    """Exit with status 2 and one line naming the option of the field GANConfig refused."""
    field = error.field
    parser.error(f"{OPTION_OF_FIELD.get(field, '--' + field.replace('_', '-'))}: "
                 f"{str(error).removeprefix(field + ': ')}")  # fmt: skip


def default_out(config: GANConfig) -> Path:
    """--out's default: runs/<time>-<dataset>-sigma<sigma0>-seed<seed>, counted if taken."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.dataset}-sigma{config.sigma0:g}"
    if config.penalty != "none":
        stem += f"-{config.penalty}-gamma{config.gamma:g}"
    out, count = Path("runs") / f"{stem}-seed{config.seed}", 1
    while out.exists():
        count += 1
        out = Path("runs") / f"{stem}-seed{config.seed}-{count}"
    return out


def make_out(parser: ArgumentParser, out: Path) -> Path:
    """Create a new run's folder out and return it; one that exists, or cannot be made,
    exits with status 2."""
    try:
        out.mkdir(parents=True)
    except OSError as error:
        parser.error(f"--out: cannot create {str(out)!r}: {error.strerror}")
    return out


def resume_arguments(parser: ArgumentParser, argv: list[str], given):
    """(args, resume): the arguments stored in --resume's checkpoint (upgraded), with the
    RESUMABLE options given here, and the checkpoint as a Resume. Any other option given
    with another value, or a checkpoint that is missing, unreadable, stale or of another
    version, exits with status 2 and touches nothing."""
    try:
        step, stored, arrays = checkpoint.load(given.resume / "checkpoint.npz")
        stored = checkpoint.upgrade(stored, UNPENALISED)
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
    args.sigma0, args.gamma = tuple(args.sigma0), tuple(args.gamma)
    args.out, args.resume = given.resume, given.resume
    if args.steps <= step:
        parser.error(f"--steps: the run in {str(given.resume)!r} has reached step {step}; "
                     f"give more to train on, got {args.steps}")  # fmt: skip
    return args, Resume(step, arrays, stored)


def command_line(value) -> str:
    """A stored argument as it would be typed: 0.1,0.2 for a list, 0.1 for one value."""
    if isinstance(value, list):
        return ",".join(f"{item:g}" for item in value)
    return str(value)
