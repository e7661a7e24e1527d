"""The figures' shared look: one colour for real samples and one for generated ones in
every figure, colours for the methods as the text names them, and sizes legible at the
README's width (about 1000 pixels).

The colours are from Okabe and Ito's palette, which colour-blind readers tell apart; every
figure also tells its curves apart by line style or marker, so it survives greyscale. Heat
maps of D(x) use a grey scale, under which both sample colours stay visible.
"""

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402

REAL = "#0072B2"  # blue: data, p, real samples
FAKE = "#D55E00"  # vermillion: the generator, q, generated samples
METHODS = {  # how each method is drawn, under the name the text gives it
    "no noise": {"color": "#000000", "linestyle": "-", "marker": "o"},
    "instance noise": {"color": "#009E73", "linestyle": "--", "marker": "s"},
    "annealed instance noise": {"color": "#56B4E9", "linestyle": "-.", "marker": "D"},
    "label noise": {"color": "#CC79A7", "linestyle": ":", "marker": "^"},
    "gradient penalty": {"color": "#E69F00", "linestyle": (0, (5, 2, 1, 2)), "marker": "v"},
}
HEAT_MAP = "Greys"  # D(x) from 0 (white) to 1 (black)
GAP = "#9DB7D5"  # pale blue: the gaps between images in a mosaic, apart from ink and paper
SEQUENCE = "viridis"  # for a quantity in order, e.g. sigma: perceptually even, greyscale-safe

WIDTH = 10.0  # inches; at DPI, the README's width
DPI = 100


def apply() -> None:
    """Font sizes that stay legible when a 10-inch figure is shown 1000 pixels wide."""
    plt.rcParams.update({
        "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
        "xtick.labelsize": 9, "ytick.labelsize": 9, "figure.titlesize": 12,
        "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": DPI,
        "savefig.bbox": "tight", "image.cmap": SEQUENCE,
    })  # fmt: skip


def save(figure, path) -> None:
    """Write figure to path as PNG (path may be a temporary name) and close it."""
    figure.savefig(path, format="png")
    plt.close(figure)
