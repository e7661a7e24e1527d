"""The figures: the note's argument drawn from the library's own code (reference/theory.py
for the analytic curves, reference/discriminator.py for fitted discriminators, fast/ and
reference/gan.py for training), deriving no math of their own.

    python -m figures              regenerate every figure into this folder
    python -m figures --list       name them
    python -m figures NAME --quick one figure on a tiny budget, into a new temporary folder

    __main__.py   the command
    style.py      the shared colours, sizes and save
    samples.py    samples.png, the figure every single run of run.py writes
    <name>.py     one module per figure, each with NUMBER, TITLE and make(out_dir, quick)
"""
