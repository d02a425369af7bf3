"""embedcli: train text embeddings and classifiers from the command line.

Importing the package is cheap: it pulls in neither numba nor the CLI.
"""

import os as _os

__version__ = "0.1.0"

__all__ = ["__version__"]


def _numba_cache_dir() -> None:
    """Numba caches compiled kernels beside the source; a read-only install (system site-packages,
    a container layer) cannot hold them, so point the cache at the user's cache home instead.
    Only sets NUMBA_CACHE_DIR when the user has not, and before numba is ever imported."""
    if "NUMBA_CACHE_DIR" in _os.environ:
        return
    here = _os.path.dirname(__file__)
    if _os.access(here, _os.W_OK):
        return
    base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    _os.environ["NUMBA_CACHE_DIR"] = _os.path.join(base, "embedcli", "numba")


_numba_cache_dir()
