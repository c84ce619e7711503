"""``python -m mlbench``: the command line."""

from mlbench.cli import main

main()
