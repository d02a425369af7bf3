"""The live "reading … N documents" count: the reading process and its forked shard workers
count into embedcli.readcount; train prints the count while reading and a line for each step
after training (test evaluation, saving)."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from embedcli import readcount, shards
from embedcli.cli import app
from embedcli.cli.render import reading_progress
from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.shards import build_and_encode
from embedcli.text import Tokenizer
from embedcli.vocab import TokenCounter, vocab_options


def _write(path: Path, n: int) -> Path:
    path.write_text(
        "".join(f"__label__{'ab'[i % 2]} word{i % 97} other{i % 13} !\n" for i in range(n)),
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("parallel", [False, True])
def test_count_covers_the_whole_corpus_with_and_without_shard_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parallel: bool
) -> None:
    paths = [str(_write(tmp_path / f"p{k}.txt", 9000 + k)) for k in range(2)]
    monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1 if parallel else 1 << 40)
    monkeypatch.setattr(shards, "available_cores", lambda: 3)
    reader = CorpusReader(paths, CorpusOptions(skip_blank=True, require_labels=True))
    assert (shards.plan_shards(reader) is not None) == parallel
    readcount.reset()
    _vocab, corpus = build_and_encode(reader, TokenCounter(Tokenizer()), vocab_options())
    assert corpus.n_docs == 18001
    assert readcount.total() == 18001  # every worker's slot, or the one reader's


def test_a_log_gets_a_count_line_every_period(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.txt", 40000)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)
    with reading_progress(console, "c.txt", quiet=False, every=0.02):
        seen = 0
        for _doc in CorpusReader([str(path)], CorpusOptions()):
            seen += 1
            if seen % 4096 == 0:
                time.sleep(0.03)  # a slow disk: the ticker gets its turns
    lines = buf.getvalue().splitlines()
    assert lines[0] == "reading c.txt …"
    counts = [int(m.group(1).replace(",", "")) for m in map(_count, lines[1:]) if m]
    assert len(counts) >= 3 and counts == sorted(counts), lines
    assert all(0 < c <= 40000 for c in counts)
    assert len(counts) == len(lines) - 1  # nothing else is printed


def _count(line: str) -> re.Match[str] | None:
    return re.fullmatch(r"reading c\.txt … ([\d,]+) documents", line)


def test_quiet_prints_nothing() -> None:
    buf = io.StringIO()
    with reading_progress(Console(file=buf), "x", quiet=True, every=0.01):
        time.sleep(0.05)
    assert buf.getvalue() == ""


def test_train_names_its_steps_after_training(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "t.txt", 300)
    r = CliRunner().invoke(
        app,
        ["train", str(corpus), "--test", str(corpus), "-o", str(tmp_path / "m"), "--dim", "4",
         "--epochs", "1", "--threads", "1", "--seed", "1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    err = r.stderr if hasattr(r, "stderr") else r.output
    steps = [
        line
        for line in err.splitlines()
        if line.startswith(("reading", "read ", "evaluating", "writing", "epoch"))
    ]
    assert steps[0] == f"reading {corpus} …"
    assert steps[-2:] == [f"evaluating on {corpus} …", f"writing {tmp_path / 'm'} …"]
