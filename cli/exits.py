"""The exit statuses of run.py, python -m sweep and python -m figures, as a shell sees them."""

OK = 0
BAD_ARGUMENTS = 2  # nothing was written
NON_FINITE = 3  # a loss turned non-finite; the run's folder keeps what it logged
OUT_OF_MEMORY = 4
WRITE_FAILED = 5  # the operating system refused a write (disk full, read-only, permission)
SIGNAL = 128  # + the signal's number: 130 Ctrl-C (SIGINT), 143 SIGTERM
