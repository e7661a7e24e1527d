"""The checkpoint: what a run leaves on disk so that it can stop at any step and continue
bit for bit; either path's state to and from it; and stored arguments read in this code's
names (upgrade).

Every random number is a pure function of (seed, step, stream, index) (reference/philox.py),
so the whole state of a run is its parameters, Adam's moments and update counts, and the
next step to take. A checkpoint holds exactly that, for every GAN of a population:

    checkpoint.npz
        format      () int: CHECKPOINT_FORMAT; a file of another format is refused
        step        () int: the next step to run (the steps 0 .. step - 1 are done)
        arguments   () str: JSON of what made the state: run.py's arguments (--out and
                    --resume excepted), or a sweep block's d_steps and runs; d_steps at
                    least, which checks the Adam counts against the step
        theta_G, m_G, v_G   (P, n_params_G): G's parameters and Adam moments
        theta_D, m_D, v_D   (P, n_params_D): D's
        t_G, t_D    () int: Adam updates taken so far (shared by the population)
        ...         whatever else the saver keeps with the state; run.py: history_bytes
                    () int and history_sha256 () str, history.csv's size and SHA-256
                    when the checkpoint was saved (cli/files.py: History.mark); the
                    sweep's blocks: seconds () float, the training time so far

float64 from the reference, float32 from fast/, as the run computed them. A checkpoint is
read only if it is whole, of this format, its Adam counts belong to its step, and its
arrays fit its arguments in floating point (check_shapes). It is written atomically
(cli/files.py). Its arguments, and what a sweep stores, are read through upgrade: a name
in ALIASES is read as the name this code gives it, and what they lack is the caller's
default. Contract: what is saved and loaded is plain NumPy on the host (population_state
puts it on the run's device); paths are pathlib.Path.
"""

import json
from pathlib import Path

import numpy as np

from cli.files import write_atomically
from fast import device
from fast import gan as fast_gan
from fast import optim as fast_optim
from reference import gan, optim
from reference.config import GANConfig

CHECKPOINT_FORMAT = 1
NETWORK_ARRAYS = ("theta_G", "m_G", "v_G", "theta_D", "m_D", "v_D")  # (P, n_params_*) each
STATE_ARRAYS = (*NETWORK_ARRAYS, "t_G", "t_D")
# Stored arguments may name an option or a GANConfig field otherwise: stored name -> its name
ALIASES = {"noise": "sigma0", "label_smoothing": "real_target"}


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, of another format or incomplete."""


def save(path: Path, step: int, arguments: dict, arrays: dict) -> None:
    """Write checkpoint.npz: arrays holds STATE_ARRAYS (host arrays), and any other
    arrays to keep with them."""

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            np.savez(file, format=CHECKPOINT_FORMAT, step=step,
                     arguments=json.dumps(arguments, sort_keys=True), **arrays)  # fmt: skip

    write_atomically(path, write)


def check_shapes(arrays: dict, P: int, n_params_G: int, n_params_D: int) -> None:
    """CheckpointError unless the arrays are P GANs' of these sizes, in floating point."""
    for name in NETWORK_ARRAYS:
        expected = (P, n_params_G if name.endswith("_G") else n_params_D)
        if arrays[name].shape != expected:
            raise CheckpointError(
                f"the checkpoint's {name} is {arrays[name].shape}, but its arguments make "
                f"{expected}"
            )
        if not np.issubdtype(arrays[name].dtype, np.floating):
            kind = arrays[name].dtype
            raise CheckpointError(f"the checkpoint's {name} holds {kind}, not numbers")


def load(path: Path) -> tuple[int, dict, dict]:
    """(step, arguments, arrays) of a checkpoint, or CheckpointError saying why not;
    arrays holds every array saved with the state (STATE_ARRAYS at least)."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint: {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as content:
            stored = {name: content[name] for name in content.files}
    except Exception as error:  # whatever a damaged file makes np.load raise
        raise CheckpointError(f"{path} is not a readable checkpoint ({error!r})") from None
    missing = sorted({"format", "step", "arguments", *STATE_ARRAYS} - set(stored))
    try:
        if "format" in stored and int(stored["format"]) != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{path} has checkpoint format {int(stored['format'])}; this version reads "
                f"format {CHECKPOINT_FORMAT}"
            )
        if missing:
            raise CheckpointError(f"{path} is incomplete: it lacks {', '.join(missing)}")
        step, arguments = int(stored["step"]), json.loads(str(stored["arguments"]))
        counts = int(stored["t_G"]), int(stored["t_D"])
    except (TypeError, ValueError) as error:  # a scalar that is not one, arguments not JSON
        raise CheckpointError(f"{path} is not a readable checkpoint ({error})") from None
    if not isinstance(arguments, dict) or not isinstance(arguments.get("d_steps"), int):
        raise CheckpointError(f"{path} is not a readable checkpoint: its arguments lack d_steps")
    # G takes one Adam update per step and D d_steps: other counts belong to another step
    if counts != (step, step * arguments["d_steps"]):
        raise CheckpointError(
            f"{path} is stale: it says step {step}, but its Adam counts (G {counts[0]}, "
            f"D {counts[1]}) belong to another"
        )
    return step, arguments, {name: value for name, value in stored.items()
                             if name not in ("format", "step", "arguments")}  # fmt: skip


def upgrade(stored: dict, defaults: dict) -> dict:
    """Stored arguments as this code reads them: each name in ALIASES under the name it is
    read as, and the defaults for what they lack (the values that reproduce a run made
    without that option or field). For a checkpoint's arguments and a sweep's records."""
    return defaults | {ALIASES.get(name, name): value for name, value in stored.items()}


def reference_arrays(state: gan.GANState) -> dict:
    """A reference state as a checkpoint stores it: (1, n_params) arrays, a population of
    one, and the Adam update counts."""
    adam_G, adam_D = state.adam_G, state.adam_D
    return {"theta_G": state.theta_G[None], "m_G": adam_G.m[None], "v_G": adam_G.v[None],
            "theta_D": state.theta_D[None], "m_D": adam_D.m[None], "v_D": adam_D.v[None],
            "t_G": adam_G.t, "t_D": adam_D.t}  # fmt: skip


def reference_state(config: GANConfig, arrays: dict) -> gan.GANState:
    """The state reference_arrays stored, as float64; CheckpointError if it is not config's."""
    spec_G, spec_D = config.generator_spec(), config.discriminator_spec()
    check_shapes(arrays, 1, spec_G.n_params, spec_D.n_params)
    row = {name: np.array(arrays[name][0], dtype=np.float64) for name in NETWORK_ARRAYS}
    return gan.GANState(
        row["theta_G"], row["theta_D"],
        optim.AdamState(row["m_G"], row["v_G"], int(arrays["t_G"])),
        optim.AdamState(row["m_D"], row["v_D"], int(arrays["t_D"])),
    )  # fmt: skip


def population_arrays(state: fast_gan.PopulationState) -> dict:
    """A population's state as a checkpoint stores it: (P, n_params) host arrays and the
    Adam update counts."""
    adam_G, adam_D, host = state.adam_G, state.adam_D, device.to_host
    return {"theta_G": host(state.theta_G), "m_G": host(adam_G.m), "v_G": host(adam_G.v),
            "theta_D": host(state.theta_D), "m_D": host(adam_D.m), "v_D": host(adam_D.v),
            "t_G": adam_G.t, "t_D": adam_D.t}  # fmt: skip


def population_state(
    config: fast_gan.PopulationConfig, arrays: dict, device_name: str = "auto"
) -> fast_gan.PopulationState:
    """The state population_arrays stored, as float32 on the device; CheckpointError if it
    is not config's."""
    spec_G, spec_D = config.base.generator_spec(), config.base.discriminator_spec()
    check_shapes(arrays, config.size, spec_G.n_params, spec_D.n_params)
    where = fast_gan.resolve_device(config, device_name)
    on = {name: device.to_device(np.asarray(arrays[name], np.float32), where)
          for name in NETWORK_ARRAYS}  # fmt: skip
    return fast_gan.PopulationState(
        on["theta_G"], on["theta_D"],
        fast_optim.AdamState(on["m_G"], on["v_G"], int(arrays["t_G"])),
        fast_optim.AdamState(on["m_D"], on["v_D"], int(arrays["t_D"])),
        device.to_device(config.keys(), where),
    )  # fmt: skip
