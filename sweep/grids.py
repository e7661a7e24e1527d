"""The sweep's methods and grids: what is compared, on which data, at which strengths.

A method is a set of GANConfig fields (instance noise, its annealing, label noise, a
gradient penalty); a grid crosses methods with datasets, discriminator strengths (d_steps)
and seeds. The runs of a grid that share a dataset and a d_steps form a *block*, trained
as one population (sweep/blocks.py).
"""

from dataclasses import dataclass, replace

from reference.config import GANConfig

STEPS = 3000
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
}

# the methods of instance noise and label noise (the full grid's: it predates the
# penalties), and the penalties'
NOISE_AND_LABEL_METHODS = tuple(name for name in METHODS if "penalty" not in METHODS[name])
PENALTY_METHODS = tuple(name for name in METHODS if "penalty" in METHODS[name])


@dataclass(frozen=True)
class Grid:
    datasets: tuple[str, ...]
    d_steps: tuple[int, ...]
    methods: tuple[str, ...]
    seeds: int  # seeds 0 .. seeds - 1 in every cell
    base: GANConfig = GANConfig(steps=STEPS)


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
        if "anneal_steps" in fields:
            fields["anneal_steps"] = max(1, round(fields["anneal_steps"] * scale))
        for seed in range(grid.seeds):
            config = replace(grid.base, dataset=dataset, d_steps=d_steps, seed=seed,
                             **{"anneal_steps": grid.base.steps} | fields)  # fmt: skip
            runs.append((method, config))
    return runs
