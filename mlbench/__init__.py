"""mlbench: benchmarking toolkit for multi-label classification."""

__version__ = "0.2.0.dev0"
