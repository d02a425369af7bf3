"""embedcli: train text embeddings and classifiers from the command line.

Importing the package is cheap: it pulls in neither numba nor the CLI.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
