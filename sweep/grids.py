"""The sweep's methods and grids: what is compared, on which data, at which strengths.

A method is a set of GANConfig fields (instance noise, its annealing, label noise, a
gradient penalty); a grid crosses methods with datasets, discriminator strengths (d_steps)
and seeds. The runs of a grid that share a dataset and a d_steps form a *block*, trained
as one population (sweep/blocks.py).
"""

import math
from dataclasses import dataclass, replace

from reference import data
from reference.config import GANConfig

STEPS = 3000
SCALED_SIGMA0 = "sigma0 at d = 2"  # a method's sigma0 in the plane, scaled by sqrt(2 / d)
METHODS = {  # name -> the GANConfig fields that make it; the names summary.md uses
    "no noise": {},
    "instance noise 0.1": {"sigma0": 0.1},
    "instance noise 0.2": {"sigma0": 0.2},
    "annealed 0.2 -> 0, linear": {"sigma0": 0.2, "anneal": "linear", "anneal_steps": STEPS},
    "annealed 0.2 -> 0.002, exponential": {
        "sigma0": 0.2,
        "anneal": "exponential",
        "anneal_steps": STEPS,
    },  # fmt: skip
    "annealed 0.2 -> 0.1, linear": {
        "sigma0": 0.2,
        "anneal": "linear",
        "anneal_steps": 2 * STEPS,
    },  # fmt: skip
    "label smoothing 0.9": {"real_target": 0.9},
    "label flip 0.05": {"label_flip": 0.05},
    "label flip 0.1": {"label_flip": 0.1},
    # instance noise's analytic cousins (reference/penalty.py); on the Dirac-GAN, r1 at gamma
    # acts as noise at sigma = sqrt(2 gamma), roth as sigma = sqrt(gamma): the first of each
    # pair matches sigma = 0.2, the second is ten times stronger
    "R1 0.02": {"penalty": "r1", "gamma": 0.02},
    "R1 0.2": {"penalty": "r1", "gamma": 0.2},
    "Roth 0.04": {"penalty": "roth", "gamma": 0.04},
    "Roth 0.4": {"penalty": "roth", "gamma": 0.4},
    # for the ring in d dimensions: sigma0 (SCALED_SIGMA0) times sqrt(2 / d), so that the
    # noise's norm, ~ sigma sqrt(d), is the same in every d as in the plane
    "instance noise 0.1 sqrt(2/d)": {SCALED_SIGMA0: 0.1},
    "annealed 0.2 sqrt(2/d) -> 0, linear": {
        SCALED_SIGMA0: 0.2,
        "anneal": "linear",
        "anneal_steps": STEPS,
    },  # fmt: skip
}

# the methods of instance noise and label noise (the full grid's: it predates the
# penalties), and the penalties'
NOISE_AND_LABEL_METHODS = tuple(
    name for name in METHODS if not {"penalty", SCALED_SIGMA0} & set(METHODS[name])
)
PENALTY_METHODS = tuple(name for name in METHODS if "penalty" in METHODS[name])
# the premise's methods, one of each kind: no noise, instance noise constant and annealed,
# label noise, a penalty; the ring in d dimensions scales sigma, fixed data do not
PREMISE_METHODS = (
    "no noise",
    "instance noise 0.1",
    "annealed 0.2 -> 0, linear",
    "label smoothing 0.9",
    "R1 0.2",
)
DIMENSION_METHODS = tuple(  # the same, sigma scaled with the dimension
    {"instance noise 0.1": "instance noise 0.1 sqrt(2/d)",
     "annealed 0.2 -> 0, linear": "annealed 0.2 sqrt(2/d) -> 0, linear"}.get(name, name)
    for name in PREMISE_METHODS
)  # fmt: skip
# the premise's budget: no noise's sample quality has stopped rising by then (measured: the
# README's "Does the premise hold?"); a batch of 128 keeps the grids within two CPU hours
PREMISE = GANConfig(steps=6000, batch=128)
GRID_LONG_STEPS = 20000  # the longer budget of the 5x5 grid dataset


@dataclass(frozen=True)
class Grid:
    datasets: tuple[str, ...]
    d_steps: tuple[int, ...]
    methods: tuple[str, ...]
    seeds: int  # seeds 0 .. seeds - 1 in every cell
    base: GANConfig = GANConfig(steps=STEPS)

    def __post_init__(self):
        if data.DIGITS in self.datasets and len(self.datasets) > 1:
            raise ValueError("the digits have metrics of their own: a grid of them alone")

    @property
    def images(self) -> bool:
        """Whether its runs are scored as images (reference/metrics.py's image_metrics)."""
        return self.datasets == (data.DIGITS,)


GRIDS = {
    "small": Grid(
        ("ring", "circle"),
        (1, 5),
        (
            "no noise",
            "instance noise 0.2",
            "annealed 0.2 -> 0, linear",
            "annealed 0.2 -> 0.1, linear",
            "label smoothing 0.9",
            "label flip 0.1",
        ),
        seeds=8,
    ),  # fmt: skip
    "full": Grid(("ring", "grid", "circle", "ring3d"), (1, 5), NOISE_AND_LABEL_METHODS, seeds=16),
    # the small grid's datasets, strengths, seeds and budget, with the penalties as methods:
    # to be read beside the small grid's no-noise and noise rows (the same seeds)
    "penalties": Grid(("ring", "circle"), (1, 5), PENALTY_METHODS, seeds=8),
    # the note's premise: the ring on a thin plane of R^d as d grows, then real images; one
    # method of each kind, at a budget where no noise's sample quality has stopped rising
    "dimension": Grid(
        ("ring", "ring3d", "ring8d", "ring32d", "ring128d"),
        (1, 5),
        DIMENSION_METHODS,
        seeds=8,
        base=PREMISE,
    ),
    "digits": Grid(
        ("digits",),
        (1, 5),
        PREMISE_METHODS,
        seeds=8,
        base=replace(PREMISE, dataset="digits"),
    ),
    # one block of the full grid's 5x5 grid (its network, batch, one D step) at a longer
    # budget than its 3000 steps
    "grid-long": Grid(
        ("grid",), (1,), PREMISE_METHODS, seeds=8, base=GANConfig(steps=GRID_LONG_STEPS)
    ),
    # figure 10's first look, in seconds
    "tiny-dimension": Grid(
        ("ring", "ring8d"),
        (1,),
        DIMENSION_METHODS,
        seeds=2,
        base=GANConfig(steps=200, batch=32, hidden=16),
    ),
    # for the tests and a first look: every part of the machinery in seconds
    "tiny": Grid(
        ("ring", "circle"),
        (1, 2),
        (
            "no noise",
            "instance noise 0.2",
            "annealed 0.2 -> 0.1, linear",
            "label flip 0.1",
            "Roth 0.4",
        ),
        seeds=2,
        base=GANConfig(steps=400, batch=32, hidden=16),
    ),  # fmt: skip
}


def block_members(grid: Grid, dataset: str, d_steps: int) -> list[tuple[str, GANConfig]]:
    """(method, config) of every run of a block, method by method, seed by seed."""
    scale = grid.base.steps / STEPS  # the methods' anneal_steps are given for STEPS steps
    runs = []
    for method in grid.methods:
        fields = dict(METHODS[method])
        if SCALED_SIGMA0 in fields:
            dim = data.get_dataset(dataset).dim
            fields["sigma0"] = fields.pop(SCALED_SIGMA0) * math.sqrt(2 / dim)
        if "anneal_steps" in fields:
            fields["anneal_steps"] = max(1, round(fields["anneal_steps"] * scale))
        for seed in range(grid.seeds):
            config = replace(grid.base, dataset=dataset, d_steps=d_steps, seed=seed,
                             **{"anneal_steps": grid.base.steps} | fields)  # fmt: skip
            runs.append((method, config))
    return runs
