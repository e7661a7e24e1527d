"""The experiment: when does instance noise stabilise training? `python -m sweep`.

grids.py     the methods (instance noise, label noise, penalties) and the grids of runs
blocks.py    one block of a grid (a dataset and a d_steps) trained as one population, then
             evaluated: its rows of runs.csv
runs.py      runs.csv read back and checked against the grid: whole blocks, damaged ones
summary.py   the rows summarised per cell: summary.csv and summary.md
__main__.py  trains a grid block by block, resumably, into one locked folder, and summarises it
"""
