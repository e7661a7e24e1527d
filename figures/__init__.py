"""Figures drawn from the library's own code, which derive no math of their own.

samples.py  samples.png, the figure every single run of run.py writes
"""
