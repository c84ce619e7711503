"""What the reproduced papers report, as data (one folder per paper), and how to read it.

:mod:`.catalog` reads the data files and sits at the bottom of the package (it imports
nothing of mlbench but :mod:`mlbench.errors`); :mod:`.plan` decides which cells can run and what
a reproduction must train, and sits above :mod:`mlbench.runs`, so it is imported explicitly.
"""

from mlbench.papers.catalog import (  # noqa: F401
    COLUMNS,
    DATASETS,
    IMAGE_DATASETS,
    METHODS,
    METRICS,
    PAPERS,
    paper_info,
    paper_layout,
    paper_results,
    paper_tables,
    paper_value,
)
