"""DataAgent: domain websites and code repositories in, validated instruction datasets out."""

__version__ = "0.1.0"
