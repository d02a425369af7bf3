"""The help tells the truth: every example runs as written, the listing costs no command import,
flags and choices read cleanly, short flags mean one thing, and usage errors are one line."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.cli.app import COMMANDS, SUMMARY_MAX, command_group

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, COLUMNS="80", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embedcli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=_env(),
        timeout=300,
    )


def _help(*command: str) -> str:
    r = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    return r.stdout


def _examples(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^\s*Example:\s*(.+)$", text, re.M)]


# -- examples ----------------------------------------------------------------------------------------
def test_every_command_has_one_example_naming_only_bundled_files() -> None:
    for command in ["", *COMMANDS]:
        text = _help(*filter(None, [command]))
        examples = _examples(text)
        assert len(examples) == 1, (command, text)
        for word in shlex.split(examples[0].replace("&&", " ")):
            assert "sms_spam" not in word and "../" not in word, (command, examples[0])
            if word.startswith("sample_data/"):
                assert (REPO / word).is_file(), (command, word)


@pytest.mark.slow
def test_every_help_example_runs_as_written(tmp_path: Path) -> None:
    """In a fresh directory holding sample_data (as the repository root does), run the example of
    the root help and of every command in listing order (vocab, then train, then the model users).
    """
    (tmp_path / "sample_data").symlink_to(REPO / "sample_data")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "embedcli"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m embedcli "$@"\n')
    wrapper.chmod(0o755)
    env = _env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    ran = []
    for command in ["", *COMMANDS]:
        (example,) = _examples(_cli(*filter(None, [command]), "--help").stdout)
        if command == "plot":
            pytest.importorskip("matplotlib")
        r = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {example}"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=600,
        )
        assert r.returncode == 0, f"{example}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
        assert "Error:" not in r.stderr, (example, r.stderr)
        ran.append(example)
    assert len(ran) == len(COMMANDS) + 1
    assert (tmp_path / "vocab.tsv").is_file() and (tmp_path / "model" / "config.json").is_file()


# -- the listing -------------------------------------------------------------------------------------
def test_listing_names_every_command_with_a_summary_that_fits() -> None:
    group = command_group()
    assert list(group.list_commands(None)) == list(COMMANDS)  # type: ignore[arg-type]
    assert set(group.commands) == set(COMMANDS)  # no command left out of the listing
    for name, (_, summary) in COMMANDS.items():
        assert 0 < len(summary) <= SUMMARY_MAX, name
        assert group.commands[name].help, name
    listing = _help()
    for name, (_, summary) in COMMANDS.items():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(summary)}$", listing, re.M), name


def test_root_help_imports_no_command_module_nor_numpy() -> None:
    code = (
        "import sys\n"
        "from embedcli.cli import main\n"
        "sys.argv = ['embedcli', '--help']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('numpy', 'numba') if m in sys.modules]\n"
        "heavy += [m for m in sys.modules if m.endswith(('_cmd', '_cmds', 'model_common'))]\n"
        "print('HEAVY', sorted(heavy))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout, r.stdout
    for name in COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\s+\S", r.stdout, re.M), (name, r.stdout)


def test_command_help_loads_neither_numpy_nor_pydantic() -> None:
    """`embedcli train --help` stays fast: typer 0.29 builds every parameter through pydantic
    (about 0.1 s of imports), so the tested typer range stops before it (pyproject.toml)."""
    code = (
        "import sys\n"
        "from embedcli.cli import main\n"
        "sys.argv = ['embedcli', 'train', '--help']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print('HEAVY', sorted(m for m in ('numpy', 'numba', 'pydantic') if m in sys.modules))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout, r.stdout[-300:]


# -- how options read --------------------------------------------------------------------------------
def test_no_type_placeholders_for_flags_or_lists_and_no_cut_choices() -> None:
    for command in ["", *COMMANDS]:
        text = _help(*filter(None, [command]))
        assert "<bool>" not in text and "<list[" not in text, (command, text)
        assert "…" not in text, (command, text)
    train = " ".join(_help("train").split())
    for word in ("multilabel", "textvectorization", "fasttext", "jsonl", "appearance", "adam"):
        assert word in train, word
    assert "projector" in " ".join(_help("export").split())


def test_order_and_lr_defaults_are_shown_and_true() -> None:
    from embedcli.train import DEFAULT_LR
    from embedcli.vocab import ORDERS

    train = " ".join(_help("train").split())
    for optimizer, lr in DEFAULT_LR.items():
        assert f"{lr:g} with {optimizer}" in train, (optimizer, lr)
    assert f"{ORDERS[0]} (the default)" in train
    assert f"{ORDERS[0]} (the default)" in " ".join(_help("build-vocab").split())


def test_each_short_flag_means_one_long_option() -> None:
    meaning: dict[str, set[str]] = {}
    group = command_group()
    for command in group.commands.values():
        for param in command.params:
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts if re.fullmatch(r"-\w", o)):
                meaning.setdefault(short, set()).update(longs)
    ambiguous = {k: v for k, v in meaning.items() if len(v) != 1}
    assert not ambiguous, ambiguous
    assert meaning["-v"] == {"--verbose"}


# -- usage errors ------------------------------------------------------------------------------------
USAGE_ERRORS = [
    (["train", "sample_data/stdlib/train.txt", "--bogus"], "No such option: --bogus"),
    (["train", "sample_data/stdlib/train.txt", "--dim", "abc"], "'--dim'"),
    (["nearest"], "Missing argument 'MODEL'"),
    (["traim"], "No such command 'traim'"),
    (["encode", "sample_data/stdlib/test.txt"], "give --vocab VOCAB_TSV or --model MODEL_DIR"),
    (["--bogus"], "No such option: --bogus"),
]


@pytest.mark.parametrize(("args", "needle"), USAGE_ERRORS)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], needle: str) -> None:
    r = _cli(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("Error: ") and needle in lines[0], lines
    assert "--help" in lines[0]  # where to read more
    assert r.stdout == ""
    inproc = runner.invoke(app, args)  # the same through the app object (tests, embedding)
    assert inproc.exit_code == 2
    (inline,) = inproc.stderr.strip().splitlines()
    assert inline.startswith("Error: ") and needle in inline


def test_help_itself_is_unchanged_and_no_arguments_still_shows_it() -> None:
    r = _cli("train", "--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: ") and r.stderr == ""
    bare = _cli()
    assert "Usage: " in bare.stdout + bare.stderr and "build-vocab" in bare.stdout + bare.stderr
