"""bench/compile.py's accounting of Numba's nested compile events: a function's own seconds
are its compile less its callees', and its total counts them, every compile summed."""

from types import SimpleNamespace

from bench.compile import compile_seconds


def events(*timeline) -> list:
    """(timestamp, name, start?) -> the (timestamp, record) pairs a recorder keeps."""
    return [
        (timestamp, SimpleNamespace(is_start=start, data={"dispatcher": SimpleNamespace(
            py_func=SimpleNamespace(__qualname__=name))}))
        for timestamp, name, start in timeline
    ]  # fmt: skip


def test_own_seconds_leave_out_the_callees_and_totals_keep_them():
    # step compiles 0..10, inside it layer 1..4 (inside it act 2..3) and loss 5..6; then
    # layer again on its own, 11..13
    own, total = compile_seconds(events(
        (0, "step", True), (1, "layer", True), (2, "act", True), (3, "act", False),
        (4, "layer", False), (5, "loss", True), (6, "loss", False), (10, "step", False),
        (11, "layer", True), (13, "layer", False),
    ))  # fmt: skip
    assert total == {"step": 10, "layer": 5, "act": 1, "loss": 1}
    assert own == {"step": 6, "layer": 4, "act": 1, "loss": 1}
