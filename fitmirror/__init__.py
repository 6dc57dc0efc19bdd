"""fitmirror core: configuration, errors, logging, assets and the CLI shared by every stage."""

__version__ = "0.1.0"
