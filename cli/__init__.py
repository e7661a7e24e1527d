"""run.py's plumbing: how a run is configured, stopped, resumed and written to disk
(python -m sweep stops, checkpoints and writes its blocks with the same parts).

    options.py     run.py's options, parsed into a Run (its GANs as one population; with
                   --resume, the checkpoint's arguments and a Resume), and its folder made
    checkpoint.py  the checkpoint format, either path's state to and from its arrays, and
                   upgrade: stored arguments read in this code's names
    folder.py      what a run's folder holds beside its outputs (run.json), and what
                   --resume does with what it finds there
    files.py       atomic writes, CSV files, and history.csv kept as far as a checkpoint
                   vouches for it
    lock.py        one process per output folder
    stop.py        Ctrl-C and SIGTERM as a request to stop between two steps; a second
                   stops at once
    exits.py       the exit statuses of run.py, python -m sweep and python -m figures

None of it is part of what a step computes: reference/ and fast/ never import it.
"""
