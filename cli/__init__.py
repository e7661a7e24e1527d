"""run.py's plumbing: how a run is configured, stopped, resumed and written to disk.

    options.py     run.py's options, parsed into one GANConfig per GAN, and --resume's merge
    checkpoint.py  the checkpoint format, and either path's state to and from its arrays
    files.py       atomic writes, CSV files, and history.csv cut at a checkpoint
    stop.py        Ctrl-C and SIGTERM as a request to stop between two steps
    exits.py       the exit statuses of run.py, python -m sweep and python -m figures

None of it is part of what a step computes: reference/ and fast/ never import it.
"""
