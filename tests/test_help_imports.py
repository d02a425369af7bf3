"""What `embedcli --help` and `embedcli <command> --help` import (issue #8: help in <= 0.2 s).

The time itself depends on the machine and its load, so the tests assert the import set: the help
path loads typer and embedcli's own light modules only. Rich (about a quarter of the help's
import time: ``rich.console`` pulls ``rich.text``, ``rich.style``, colours, pickle...) is imported
when something is printed with it, numpy and numba when a command runs (never for its --help).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from embedcli.cli.app import COMMANDS

ROOT = Path(__file__).resolve().parents[1]

_PROBE = (
    "import sys, json\n"
    "from embedcli.cli import main\n"
    "sys.argv = ['embedcli', *json.loads(sys.argv[1])]\n"
    "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
    "sys.__stderr__.write('MODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n"
)


def _modules(args: list[str]) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line[len("MODULES ") :]))


def _third_party(modules: set[str]) -> set[str]:
    tops = {m.split(".")[0] for m in modules} - set(sys.stdlib_module_names)
    # the interpreter's own and the editable install's start-up hooks
    return {t for t in tops if not t.startswith(("_", "embedcli", "sitecustomize"))}


def test_root_help_imports_typer_and_the_light_cli_modules_only() -> None:
    modules = _modules(["--help"])
    assert _third_party(modules) <= {"typer", "shellingham", "annotated_doc"}, _third_party(modules)
    ours = {m for m in modules if m.startswith("embedcli")}
    assert ours == {
        "embedcli",
        "embedcli.cli",
        "embedcli.cli.app",
        "embedcli.cli.checks",
        "embedcli.cli.interrupts",
        "embedcli.cli.render",
        "embedcli.cli.stdio",
        "embedcli.errors",
        "embedcli.escapes",
        "embedcli.limits",
        "embedcli.phases",
    }


def test_train_help_imports_neither_rich_nor_the_corpus_reader() -> None:
    modules = _modules(["train", "--help"])
    assert _third_party(modules) <= {"typer", "shellingham", "annotated_doc"}, _third_party(modules)
    ours = {m for m in modules if m.startswith("embedcli")}
    assert ours == {
        "embedcli",
        "embedcli.cli",
        "embedcli.cli.app",
        "embedcli.cli.checks",
        "embedcli.cli.interrupts",
        "embedcli.cli.autotune_cmd",
        "embedcli.cli.engine",  # --engine dask's option types (imports neither dask nor numba)
        "embedcli.cli.options",
        "embedcli.cli.render",
        "embedcli.cli.stdio",
        "embedcli.cli.train_cmd",
        "embedcli.errors",
        "embedcli.escapes",
        "embedcli.limits",
        "embedcli.phases",
    }


#: one process for every command's ``--help``: after the imports a bare ``embedcli`` makes, it
#: forks a child per command (the child's imports are that command's alone), so the loop costs
#: one interpreter start-up instead of one per command
_FORKING_PROBE = (
    "import sys, os, json\n"
    "from embedcli.cli import main\n"
    "out = {}\n"
    "for cmd in json.loads(sys.argv[1]):\n"
    "    r, w = os.pipe()\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        os.close(r)\n"
    "        sys.stdout = open(os.devnull, 'w')\n"
    "        sys.argv = ['embedcli', cmd, '--help']\n"
    "        code = 0\n"
    "        try:\n            main()\n        except SystemExit as e:\n            code = e.code\n"
    "        os.write(w, json.dumps([code, sorted(sys.modules)]).encode())\n"
    "        os._exit(0)\n"
    "    os.close(w)\n"
    "    data = b''\n"
    "    while chunk := os.read(r, 1 << 16):\n        data += chunk\n"
    "    os.close(r)\n"
    "    os.waitpid(pid, 0)\n"
    "    out[cmd] = json.loads(data)\n"
    "sys.__stderr__.write('MODULES ' + json.dumps(out) + '\\n')\n"
)


@pytest.fixture(scope="module")
def help_modules() -> dict[str, set[str]]:
    """The modules loaded by ``embedcli COMMAND --help``, for every command of ``COMMANDS``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", _FORKING_PROBE, json.dumps(sorted(COMMANDS))],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if x.startswith("MODULES "))
    found = json.loads(line[len("MODULES ") :])
    assert all(code in (0, None) for code, _ in found.values()), found
    return {cmd: set(modules) for cmd, (_, modules) in found.items()}


def test_the_forking_probe_sees_what_a_process_of_its_own_sees(help_modules) -> None:
    assert help_modules["train"] == _modules(["train", "--help"])


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_command_help_imports_numpy_rich_or_numba(command: str, help_modules) -> None:
    # every command of the COMMANDS table: a command module imports the engine (numpy included:
    # modeldir, the explorer...) inside the function that runs, never at module level
    modules = help_modules[command]
    heavy = {m.split(".")[0] for m in modules} & {
        "numpy",
        "numba",
        "rich",
        "pydantic",
        "pygments",
    }
    assert not heavy, (command, heavy)


def test_the_stderr_console_is_made_at_its_first_use() -> None:
    code = (
        "import sys\n"
        "from embedcli.cli.app import err_console\n"
        "assert 'rich' not in sys.modules\n"
        "err_console.print('hello [b]x[/b]', markup=False)\n"
        "assert 'rich.console' in sys.modules\n"
        "with err_console:\n    err_console.print('inside')\n"
        "err_console.soft_wrap = True\n"
        "assert err_console.console.soft_wrap is True\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ["hello [b]x[/b]", "inside"]
