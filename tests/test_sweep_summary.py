"""sweep/summary.py: a cell's success rate carries the 95% Wilson score interval (SciPy's,
honest at 0 and all of n), and each metric the standard error of its mean over the runs
that did not diverge, from the sample standard deviation (ddof 1)."""

import math

import numpy as np
import pytest
from scipy import stats

from sweep.blocks import METRICS
from sweep.summary import summarise, wilson


@pytest.mark.parametrize("n", [1, 2, 8, 16])
def test_the_success_interval_is_the_wilson_score_interval(n):
    for successes in range(n + 1):
        expected = stats.binomtest(successes, n).proportion_ci(0.95, method="wilson")
        low, high = wilson(successes, n)
        assert low == pytest.approx(expected.low, rel=1e-12, abs=1e-15), (successes, n)
        assert high == pytest.approx(expected.high, rel=1e-12, abs=1e-15), (successes, n)
        assert -1e-15 < low <= successes / n <= high < 1 + 1e-15  # never past 0 or 1


def test_a_cells_standard_error_is_over_its_finished_runs_with_ddof_1():
    # four runs of one cell, as runs.csv holds them: three finished, one diverged
    def row(seed, modes, diverged=False):
        metrics = {} if diverged else {
            "modes_captured": str(modes), "modes_total": "8",
            "high_quality_fraction": str(modes / 10), "reverse_kl": str(modes**2 / 10),
            "energy_distance": str(1 / modes),
        }  # fmt: skip
        return {"dataset": "ring", "d_steps": "1", "method": "no noise", "seed": str(seed),
                "diverged": str(diverged), "collapsed": str(not diverged and modes <= 1),
                **metrics}  # fmt: skip

    rows = [row(0, 8), row(1, 2), row(2, 5), row(3, 0, diverged=True)]
    (cell,) = summarise(rows, METRICS)
    assert (cell["runs"], cell["success"], cell["diverged"], cell["collapsed"]) == (4, 1, 1, 0)
    assert cell["success_rate"] == 1 / 4
    for name in METRICS:
        values = np.array([float(r[name]) for r in rows[:3]])
        assert cell[f"{name}_mean"] == pytest.approx(values.mean(), rel=1e-15), name
        se = math.sqrt(((values - values.mean()) ** 2).sum() / 2) / math.sqrt(3)
        assert cell[f"{name}_se"] == pytest.approx(se, rel=1e-12), name
