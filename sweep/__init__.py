"""The experiment: when does instance noise stabilise training? `python -m sweep`.

grids.py     the methods (instance noise, label noise, penalties) and the grids of runs
__main__.py  trains a grid block by block, resumably, and summarises it
"""
