"""The package's version, in one place: the manifests, the CLI and `sim.__version__` read it here."""

__version__ = "0.1.0"
