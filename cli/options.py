"""run.py's options: the command-line form of a run's configuration, for either backend.

parse makes them a Run: the arguments, and the run's GANs as one population of reference
GANConfigs (a reference run's: a population of one), each of which checks itself
(GANConfig.__post_init__). `--resume FOLDER` takes the options from the folder's checkpoint
(cli/checkpoint.py), or from its run.json where it has none yet (cli/folder.py), accepting
only RESUMABLE ones anew, and the Run carries what it continues as a Resume, checked
against run.json and history.csv. Whatever is rejected becomes one line naming the option,
and exit status 2 (cli/exits.py), before anything is written. `claimed` parses, then makes
a new run's folder (with its run.json) or finds --resume's, and holds its lock (cli/lock.py)
while the run writes there.
"""

import argparse
import json
import shlex
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cli import checkpoint, exits, files
from cli import folder as run_folder
from cli.lock import FolderBusyError, FolderLock
from fast import device as fast_device
from fast import gan as fast_gan
from reference import digits, loss, noise, penalty
from reference.config import HIDDEN_LAYERS, ConfigError, GANConfig
from reference.data import DATASET_NAMES, DIGITS

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
    """What --resume continues: the checkpoint's step (the next one to run), its arrays
    (checkpoint.STATE_ARRAYS and the history's mark) and the arguments stored with them,
    upgraded; step 0 and arrays None for a folder started over from its run.json. history:
    the bytes of history.csv that the run keeps (files.read_history)."""

    step: int
    arrays: dict | None
    arguments: dict
    history: bytes


@dataclass(frozen=True)
class Run:
    """A run as parsed: its arguments (--device and --out resolved; with --resume, the
    checkpoint's, or run.json's for a run started over), its GANs as one population, and
    the checkpoint it resumes, if any."""

    args: argparse.Namespace
    population: fast_gan.PopulationConfig
    resume: Resume | None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default as it would be typed (0.1, not (0.1,)), except where
    the help already says what None means."""

    def _get_help_string(self, action):
        if isinstance(action.default, tuple):
            return f"{action.help} (default: {command_line(list(action.default))})"
        return action.help if action.default is None else super()._get_help_string(action)


class Once(argparse.Action):
    """argparse's store for an option whose default is None, refusing it given twice:
    argparse would keep the last value silently, and `--grid tiny --grid small` (hours of
    training) or `--resume A --resume B` is more likely a slip than a choice."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(namespace, self.dest)
        if given is not None:
            raise argparse.ArgumentError(self, f"given twice ({given} and {values})")
        setattr(namespace, self.dest, values)


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
        description="Train a small MLP GAN on a toy distribution or the digits, optionally "
        "with instance noise (Sonderby et al. 2016): real and generated samples both get "
        "N(0, sigma^2 I) added before the discriminator sees them.",
        epilog=f"Exit status: {exits.OK} done; {exits.BAD_ARGUMENTS} bad arguments, or a folder "
        f"in use by another run.py (nothing written); {exits.NON_FINITE} a loss turned "
        f"non-finite (--out keeps history.csv and metrics.json up to that step); "
        f"{exits.OUT_OF_MEMORY} out of memory; {exits.WRITE_FAILED} a write failed (disk full, "
        "read-only folder, permission: one line names the file; the last checkpoint stays "
        f"whole, and --resume continues from it); {exits.SIGNAL + 2} stopped by Ctrl-C "
        f"(SIGINT), {exits.SIGNAL + 15} by SIGTERM: --out then holds every output for the step "
        "reached and checkpoint.npz, and --resume continues it (a second Ctrl-C stops at "
        "once; --resume still continues).",
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
    add("--dataset", choices=DATASET_NAMES, default=DEFAULTS.dataset, help="ring: 8 Gaussians "
        "on a circle; grid: 5x5 Gaussians; circle: a zero-width circle; ring3d, ring8d, ring32d, "
        "ring128d: the ring in a plane of 3-, 8-, 32-, 128-D; points: two point masses on a "
        "line; digits: the 8x8 handwritten digits, 64-D, scored by a fixed classifier")
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
    add("--out", type=Path, metavar="FOLDER", action=Once, help="the folder to create; must "
        "not exist (default: a new folder under runs/)")
    add("--log-every", type=int, default=10, metavar="N",
        help="write a history row and refresh the progress bar every this many steps")
    add("--checkpoint-every", type=int, default=1000, metavar="N", help="write checkpoint.npz "
        "every this many steps (and always at the end or when stopped)")
    add("--resume", type=Path, metavar="FOLDER", action=Once, help="continue the run in this "
        "folder from its checkpoint.npz, with its arguments; only --steps, --log-every and "
        "--checkpoint-every may be given. A run trained to --steps whose outputs are missing "
        "is evaluated; one stopped before its first checkpoint starts over from its run.json")
    # fmt: on
    return parser


def parse(parser: ArgumentParser, argv: list[str]) -> Run:
    """The Run that argv asks for: --device resolved, --out named (claimed creates it),
    and with --resume what it continues, checked. Exits with status 2 on anything invalid, writing
    nothing."""
    args, resumed = parser.parse_args(argv), None
    if args.resume is not None:
        args, resumed = resume_arguments(parser, argv, args)
    P = args.population
    if not 1 <= P <= fast_gan.MAX_POPULATION:
        parser.error(f"--population: expected between 1 and {fast_gan.MAX_POPULATION} GANs, "
                     f"got {P}")  # fmt: skip
    if P > 1 and args.seed + P - 1 > 2**64 - 1:  # GAN p's seed is --seed + p
        parser.error(f"--seed: with --population {P}, expected at most {2**64 - P} (the last "
                     f"GAN's seed is --seed + {P - 1}), got {args.seed}")  # fmt: skip
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
    if args.dataset == DIGITS:  # its classifier scores the run: checked before it trains
        try:
            digits.classifier()
        except digits.ClassifierError as error:
            parser.error(f"--dataset: {DIGITS}: {error}")
    resume = None if resumed is None else checked(parser, args, population, *resumed)
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
            anneal=args.anneal,
            anneal_steps=args.steps if args.anneal_steps is None else args.anneal_steps,
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


def stored_arguments(args: argparse.Namespace) -> dict:
    """The arguments that make a run, as run.json and its checkpoints keep them (JSON's
    types: lists for tuples): every one but --out and --resume."""
    return json.loads(json.dumps({name: value for name, value in vars(args).items()
                                  if name not in ("out", "resume")}))  # fmt: skip


@contextmanager
def claimed(parser: ArgumentParser, argv: list[str]):
    """The Run that argv asks for, with its folder locked while the context lasts: a new
    one made, with its run.json, or --resume's, read and checked under the lock. A folder
    that another process holds exits with status 2."""
    given = parser.parse_args(argv)
    if given.resume is None:
        run = parse(parser, argv)
        out = make_out(parser, run.args.out)
        with locked(parser, out, "--out"):
            if not files.left_before_record(out):  # another run took it before our lock
                parser.error(f"--out: {str(out)!r} exists")
            try:
                files.remove_temporaries(out)
                run_folder.record(out, stored_arguments(run.args))
            except BaseException:  # a full disk
                shutil.rmtree(out, ignore_errors=True)  # it holds nothing of anyone's yet
                raise
            yield run
    else:
        if not given.resume.is_dir():
            parser.error(f"--resume: {str(given.resume)!r} is not a folder")
        with locked(parser, given.resume, "--resume"):
            run = parse(parser, argv)
            files.remove_temporaries(run.args.out)  # a killed writer's, as ours alone write
            yield run


@contextmanager
def locked(parser: ArgumentParser, folder: Path, option: str):
    """folder's lock, held while the context lasts; held by another process: exit 2."""
    try:
        with FolderLock(folder):
            yield
    except FolderBusyError as busy:
        parser.error(f"{option}: {busy}")


def quoted(path: Path) -> str:
    """A path as a shell and an option read it back: python run.py --resume {quoted(path)}
    (a relative path that starts with a dash gets ./, or it would read as an option)."""
    text = str(path)
    return shlex.quote(f"./{text}" if text.startswith("-") else text)


def make_out(parser: ArgumentParser, out: Path) -> Path:
    """Create a new run's folder out and return it. One that exists exits with status 2,
    unless it holds nothing but what a run killed before its run.json leaves (its lock, a
    temporary): then it is the new run's; one under a file exits with status 2 too. One
    that the system refuses (read-only, permission, full) raises the OSError (exit 5)."""
    try:
        out.mkdir(parents=True)
    except NotADirectoryError:
        parser.error(f"--out: cannot create {str(out)!r}: a file stands in its path")
    except FileExistsError:
        if not out.is_dir() or not files.left_before_record(out):
            parser.error(f"--out: {str(out)!r} exists")
    return out


def resume_arguments(parser: ArgumentParser, argv: list[str], given):
    """(args, (step, stored, arrays)): the arguments stored in --resume's checkpoint (or in
    its run.json, step 0 and arrays None, where the run has no checkpoint and no
    metrics.json yet), upgraded, with the RESUMABLE options given here. Any other option
    given with another value, a checkpoint that is missing, unreadable, stale or of another
    version, or --steps short of the checkpoint's, or equal to it where the outputs are all
    written, exits with status 2 and touches nothing."""
    folder = given.resume
    try:
        recorded = run_folder.recorded(folder)
        if recorded is None or any((folder / name).exists()
                                   for name in ("checkpoint.npz", "metrics.json")):  # fmt: skip
            step, stored, arrays = checkpoint.load(folder / "checkpoint.npz")
        else:  # made, then stopped before its first checkpoint: it starts over
            step, stored, arrays = 0, recorded, None
        stored = checkpoint.upgrade(stored, UNPENALISED)
        lacking = sorted(set(vars(given)) - {"out", "resume"} - set(stored))
        if lacking:
            raise checkpoint.CheckpointError(f"its arguments lack {', '.join(lacking)}")
        unmade = unparsed(parser, stored) or next(
            (f"its {name} is {stored[name]!r}" for name in RESUMABLE
             if not isinstance(stored[name], int) or stored[name] < 1), None)  # fmt: skip
        if unmade:
            source = "checkpoint.npz" if arrays is not None else run_folder.RECORD
            raise ValueError(f"{folder / source} holds arguments run.py does not make: {unmade}")
    except (checkpoint.CheckpointError, ValueError) as error:
        parser.error(f"--resume: {error}")
    written = {action.dest for action in parser._actions for option in action.option_strings
               for word in argv if word == option or word.startswith(option + "=")}  # fmt: skip
    if "out" in written:
        parser.error(f"--out: cannot go with --resume, which writes into its own folder, "
                     f"{str(folder)!r}")  # fmt: skip
    for name in sorted(written - {"resume", *RESUMABLE}):
        # the same value the run has is no change (JSON stores tuples as lists), and
        # --device auto asks for no device in particular
        value = json.loads(json.dumps(getattr(given, name)))
        if value != stored[name] and (name, value) != ("device", "auto"):
            parser.error(f"--{name.replace('_', '-')}: the run in {str(folder)!r} has "
                         f"{command_line(stored[name])}; --resume takes it from there, and "
                         "changing it would change the run")  # fmt: skip
    args = argparse.Namespace(**stored | {name: getattr(given, name) for name in RESUMABLE
                                          if name in written})  # fmt: skip
    args.sigma0, args.gamma = tuple(args.sigma0), tuple(args.gamma)
    args.out, args.resume = folder, folder
    figure = "samples.png" if args.population == 1 else "population.csv"
    # at step itself only a run trained to its own --steps is evaluated (its last step is
    # logged); one stopped there has more to train on
    if (
        args.steps < step
        or args.steps == step
        and (stored["steps"] != step or run_folder.finished(folder, step, figure))
    ):
        parser.error(f"--steps: the run in {str(folder)!r} has reached step {step}; "
                     f"give more to train on, got {args.steps}")  # fmt: skip
    return args, (step, stored, arrays)


def unparsed(parser: ArgumentParser, stored: dict) -> str | None:
    """Which stored argument the parser would not have made from any command line (the
    type, the choices, or a value that reads back otherwise), or None: a stored file
    edited by hand is refused, not trusted."""
    for action in parser._actions:
        if action.dest not in stored or action.dest in ("out", "resume"):
            continue
        value = stored[action.dest]
        if value is None and action.default is None:
            continue
        try:
            # as typed, to the last digit (repr): a value that reads back as itself
            typed = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            parsed = action.type(typed) if action.type else typed
            same = json.loads(json.dumps(parsed)) == value
        except (ValueError, TypeError, argparse.ArgumentTypeError):
            same = False
        if not same or action.choices is not None and parsed not in action.choices:
            return f"its {action.dest} is {value!r}"
    return None


def checked(parser: ArgumentParser, args, population, step: int, stored: dict, arrays):
    """The Resume of what resume_arguments read, once checked: the checkpoint's arrays are
    the networks of its arguments, which are run.json's (but for the RESUMABLE options),
    and history.csv is, up to the checkpoint, the file it was saved with (files.read_history).
    Anything else exits with status 2, naming the file and what is wrong with it."""
    folder, columns = args.resume, files.history_columns(population.size)
    if arrays is None:  # started over: a history of its header alone
        return Resume(0, None, stored, files.csv_lines(columns, [], header=True))
    spec_G, spec_D = population.base.generator_spec(), population.base.discriminator_spec()
    try:
        checkpoint.check_shapes(arrays, population.size, spec_G.n_params, spec_D.n_params)
        # run.py stops at a non-finite loss without a checkpoint (a sweep's block, whose
        # diverged runs are results, is another matter): none of its checkpoints holds one
        if not all(np.isfinite(arrays[name]).all() for name in checkpoint.NETWORK_ARRAYS):
            raise ValueError(f"{folder / 'checkpoint.npz'} holds non-finite numbers")
        recorded = run_folder.recorded(folder)
        if recorded is None:
            raise ValueError(f"{folder / run_folder.RECORD} is missing: the checkpoint "
                             "cannot be checked against the run's arguments")  # fmt: skip
        recorded = checkpoint.upgrade(recorded, UNPENALISED)
        for name in sorted((set(recorded) | set(stored)) - {"out", "resume", *RESUMABLE}):
            if recorded.get(name) != stored.get(name):
                raise ValueError(
                    f"{folder / 'checkpoint.npz'} is another run's: its {name} is "
                    f"{stored.get(name)!r}, run.json's {recorded.get(name)!r}"
                )
        if not {"history_bytes", "history_sha256"} <= set(arrays):
            raise ValueError(f"{folder / 'checkpoint.npz'} keeps no mark of history.csv to "
                             "check it against")  # fmt: skip
        mark = int(arrays["history_bytes"]), str(arrays["history_sha256"])
        # the last step's row, logged only as the stored run's last, goes if it trains on
        last_was_final = step == stored["steps"] < args.steps and (
            (step - 1) % stored["log_every"] != 0
        )
        history = files.read_history(folder / "history.csv", columns, step, mark, last_was_final)
    except (checkpoint.CheckpointError, ValueError, TypeError, OSError) as error:
        parser.error(f"--resume: {error}")
    return Resume(step, arrays, stored, history)


def command_line(value) -> str:
    """A stored argument as it would be typed: 0.1,0.2 for a list, 0.1 for one value."""
    if isinstance(value, list):
        return ",".join(f"{item:g}" for item in value)
    return str(value)
