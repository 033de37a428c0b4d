"""gpcluster: data, analysis and planning tools for Scotland's GP clusters."""

__version__ = "0.1.0"
