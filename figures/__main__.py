"""python -m figures [NAME ...] [--list] [--quick] [--out FOLDER]: regenerate the figures.

Every figure is a module of this package with a NUMBER, a one-line TITLE and
`make(out_dir, quick) -> [paths written]`; `quick` runs it on a tiny budget (for the tests
and a first look). A full run writes into this folder, the figures the README shows; --quick
writes into --out, or else into a new temporary folder (printed first), so that a first look
never replaces a committed figure with its tiny-budget version. Each figure is drawn into a
temporary folder and its files are then renamed into the output folder, so a figure
interrupted half-way leaves the previous files whole.

Ctrl-C, whenever it comes (while the libraries load too), ends with one line and status 130
(cli/exits.py), no traceback.
"""

import argparse
import importlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from cli import exits

NAMES = ("disjoint_supports", "label_noise", "instance_noise", "graphical_models", "training",
         "divergence", "dirac_gan", "learned_discriminator", "stabilisation", "dimension",
         "generated_digits")  # fmt: skip
FOLDER = Path(__file__).resolve().parent


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(exits.BAD_ARGUMENTS, f"python -m figures: error: {message}\n")


def module(name: str):
    return importlib.import_module(f"figures.{name}")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m figures", description="Regenerate the figures "
                            "(all of them, or those named) as PNG files.")  # fmt: skip
    parser.add_argument("names", nargs="*", metavar="NAME", help="figures to make (default: all)")
    parser.add_argument("--list", action="store_true", help="name every figure, one per line")
    parser.add_argument("--quick", action="store_true", help="a tiny budget for each figure")
    parser.add_argument("--out", type=Path, metavar="FOLDER",
                        help="where the files go (default: the figures/ folder; with --quick, "
                        "a new temporary folder)")  # fmt: skip
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    unknown = [name for name in args.names if name not in NAMES]
    if unknown:
        parser.error(f"unknown figure {unknown[0]!r}; choose from {', '.join(NAMES)}")
    if args.list:
        for name in NAMES:
            print(f"{module(name).NUMBER}. {name}: {module(name).TITLE}")
        return exits.OK
    out = args.out
    if out is None and args.quick:
        out = Path(tempfile.mkdtemp(prefix="figures-quick-"))
        print(f"python -m figures: --quick writes into {out} (figures/ is left as it is)")
    elif out is None:
        out = FOLDER
    if not out.is_dir() or not os.access(out, os.W_OK | os.X_OK):
        parser.error(f"--out: {str(out)!r} is not a folder this process can write into")
    # loaded here, not at the top, so that a Ctrl-C while they load meets __main__'s handler
    from tqdm import tqdm

    from figures import style

    style.apply()
    bar = tqdm(args.names or NAMES, unit="figure", dynamic_ncols=True)
    for name in bar:
        bar.set_postfix_str(name)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=out, prefix=f".{name}.") as scratch:
            written = module(name).make(Path(scratch), args.quick)
            for path in written:
                os.replace(path, out / path.name)
        bar.write(f"{name}: {', '.join(p.name for p in written)} "
                  f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    return exits.OK


def interrupt(signum, frame):
    """The first Ctrl-C unwinds main (a figure's temporary folder is removed on the way);
    a second ends the process at once, for the first can be swallowed where Numba's
    compiler catches exceptions (cli/stop.py says how). Every figure written is whole:
    each is moved into place whole."""
    signal.signal(signal.SIGINT, at_once)
    raise KeyboardInterrupt


def at_once(signum, frame):
    os.write(2, b"python -m figures: stopped at once; the figures finished are whole\n")
    os._exit(exits.SIGNAL + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, interrupt)
    try:
        status = main()
    except KeyboardInterrupt:
        print("python -m figures: interrupted by Ctrl-C; the figures finished are whole",
              file=sys.stderr)  # fmt: skip
        status = exits.SIGNAL + signal.SIGINT
    sys.exit(status)
