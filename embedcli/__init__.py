"""embedcli: train text embeddings and classifiers from the command line, or from Python.

Importing the package is cheap: it pulls in neither numba, numpy nor the CLI. The Python API
(``embedcli.api``) loads on first use::

    import embedcli
    model = embedcli.train("sample_data/stdlib/train.txt", dim=32, seed=1)
    model.predict("open a socket and send bytes")
    model = embedcli.load("model")             # a directory written by `embedcli train`

``embedcli.train`` and ``embedcli.pretrain`` are also the names of library modules: the
package makes those modules callable (calling one runs ``embedcli.api.train`` /
``embedcli.api.pretrain``), so ``import embedcli.train`` keeps working as before.
"""

import os as _os
import sys as _sys
import types as _types

from embedcli.errors import DataError, EmbedcliError, FormatError, UsageError

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "EmbedcliError",
    "FormatError",
    "Model",
    "UsageError",
    "__version__",
    "load",
    "pretrain",
    "train",
]

#: API functions whose names are also modules of the package (``embedcli/train.py``...)
_CALLABLE_MODULES = ("train", "pretrain")
#: lazily loaded from ``embedcli.api``
_API = ("load", "Model")


class _CallableModule(_types.ModuleType):
    """``embedcli.train`` / ``embedcli.pretrain``: the library module, callable as the API
    function of the same name (``embedcli.api.train``...), with that function's signature."""

    def __call__(self, *args, **kwargs):
        from embedcli import api

        return getattr(api, self.__name__.rsplit(".", 1)[1])(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        from embedcli import api

        return inspect.signature(getattr(api, self.__name__.rsplit(".", 1)[1]))


class _Package(_types.ModuleType):
    """The package module: a submodule named like an API function becomes callable as it is
    bound here (the import system binds every submodule with ``setattr``)."""

    def __setattr__(self, name, value):
        if name in _CALLABLE_MODULES and type(value) is _types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name):
    if name in _CALLABLE_MODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in _API:
        from embedcli import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


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
