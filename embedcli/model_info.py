"""What ``embedcli info`` reports about a model directory, as plain data (numpy, no numba).

``describe(path)`` reads config.json, checks the sha256 of every file it records and, when they
all match, opens the table (finiteness checked) to count the vocabulary and labels; it returns a
``ModelInfo``: the ``--json`` report (a dict of JSON values), for word vectors the lines a person
reads first, and the damaged files. A damaged directory is described, not refused: the caller
decides (``embedcli info`` prints the report, then exits 1). ``Model.info()`` is the same report
for a model in memory or opened.

Left out: rendering (``cli/table_cmds.py`` draws the tables), and any check beyond the loader's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelInfo:
    """``report`` the ``info --json`` dict; ``summary`` a word-vector model's first lines for
    people (``{}`` for a classifier); ``damaged`` the files missing or whose sha256 differs."""

    report: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    damaged: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "vectors" if self.report.get("kind") == "vectors" else "classifier"


def describe(path: str) -> ModelInfo:
    """The ``ModelInfo`` of the model directory at ``path`` (``embedcli info``'s one call)."""
    from embedcli.modeldir import file_report, read_config
    from embedcli.vectors_model import load_table

    config = read_config(path)
    files = file_report(path, config)
    bad = [f["file"] for f in files if f["status"] != "ok"]
    # verify: info is the command that says whether a model is sound (finiteness included)
    table = None if bad else load_table(path, mmap=True, verify=True, classifier=True)
    return build_info(path, config, files, table, bad)


def build_info(
    path: str | None, config: dict, files: list[dict], table: Any, bad: list[str] | None = None
) -> ModelInfo:
    """The ``ModelInfo`` of a model's ``config`` and ``files`` (``modeldir.file_report``);
    ``table`` (a ``modeldir.LoadedModel`` or ``vectors_model.VectorsModel``) may be None when
    its files are damaged."""
    from embedcli.modeldir import model_kind

    bad = list(bad or [])
    if model_kind(config) == "vectors":
        report, summary = _vectors_info(path, config, files, table)
        return ModelInfo(report, summary, bad)
    return ModelInfo(_classifier_info(path, config, files, table), {}, bad)


def _classifier_info(path: str | None, config: dict, files: list[dict], table: Any) -> dict:
    from embedcli.modeldir import layer_summary

    spec = config["model"]
    layers = layer_summary(spec)
    vocab = None if table is None else table.vocab
    report = {
        "path": path,
        "format": config.get("format"),
        "version": config.get("version"),
        "created": config.get("created"),
        "model": spec,
        "layers": layers,
        "total_params": sum(layer["params"] for layer in layers),
        "vocab": None
        if vocab is None
        else {
            "size": len(vocab),
            "oov": vocab.unk_id is not None,
            "buckets": int(spec.get("buckets", 0))
            if int(spec.get("word_ngrams", 1)) > 1 or spec.get("subwords")
            else 0,
            **({"subwords": subwords_text(spec["subwords"])} if spec.get("subwords") else {}),
            "tokenizer": config.get("tokenizer"),
        },
        "labels": None
        if vocab is None
        else [
            {"label": lab, "count": c}
            for lab, c in zip(vocab.labels, vocab.label_counts, strict=True)
        ],
        "train": config.get("train", {}),
        "corpus": config.get("corpus") or {},
        "metrics": config.get("metrics", {}),
        "files": files,
        "versions": config.get("versions", {}),
    }
    if "quantized" in config:
        report["quantized"] = quantized_info(config, files)
    return report


def _vectors_info(
    path: str | None, config: dict, files: list[dict], table: Any
) -> tuple[dict, dict]:
    """A word-vector model (embedcli pretrain): ``(report, summary)``, the JSON report (kind,
    method, dimension, words, subwords, training, reading, files) and its lines for people."""
    from embedcli.vectors_model import describe_subwords

    spec = config["model"]
    report = {
        "path": path,
        "format": config.get("format"),
        "version": config.get("version"),
        "kind": "vectors",
        "created": config.get("created"),
        "model": spec,
        "words": None if table is None else len(table.words),
        "subword_rows": None if table is None else len(table.subword_buckets),
        "total_params": None
        if table is None
        else (len(table.words) + len(table.subword_buckets)) * table.dim,
        "vocab": None
        if table is None
        else {
            "size": len(table.vocab),
            "oov": table.vocab.unk_id is not None,
            "tokenizer": config.get("tokenizer"),
        },
        "train": config.get("train", {}),
        "corpus": config.get("corpus") or {},
        "metrics": config.get("metrics", {}),
        "files": files,
        "versions": config.get("versions", {}),
    }
    summary = {
        "kind": "word vectors (embedcli pretrain; no classifier)",
        "method": spec.get("method"),
        "dimension": spec.get("dim"),
    }
    if table is not None:
        top = ", ".join(f"{w} ({c:,})" for w, c in zip(table.words[:8], table.counts[:8].tolist()))
        summary.update(
            {
                "words": f"{len(table.words):,}",
                "subwords": describe_subwords(table),
                "parameters": f"{report['total_params']:,} "
                f"({report['total_params'] * 4 / 2**20:.2f} MB float32)",
                "most frequent": top,
                "tokenizer": config.get("tokenizer"),
            }
        )
    for key in ("window", "negative", "sample", "epochs", "lr"):
        if key in spec:
            summary[key] = spec[key]
    return report, summary


def quantized_info(config: dict, files: list[dict]) -> dict:
    """``info``'s Quantization section: the options, the bytes on disk and against the float
    model the quantized one came from."""
    q = config["quantized"]
    size = sum(f["bytes"] or 0 for f in files)
    source = q.get("source") if isinstance(q.get("source"), dict) else {}
    float_bytes = source.get("bytes")
    if not isinstance(float_bytes, int):
        float_bytes = 4 * int(source.get("rows", q["stored_rows"])) * int(config["model"]["dim"])
    return {
        "dsub": q["dsub"],
        "centroids": q["ksub"],
        "qnorm": q["qnorm"],
        "qout": q["qout"],
        "cutoff": q["cutoff"] or None,
        "stored_rows": q["stored_rows"],
        "bytes": size,
        "float_bytes": float_bytes,
        "compression": round(float_bytes / max(1, size), 2),
    }


def subwords_text(sub: Any) -> str:
    """The ``model.subwords`` record of config.json in words ("off" without one)."""
    if not isinstance(sub, dict):
        return "off"
    return f"character n-grams of {sub.get('minn')}..{sub.get('maxn')} (shared buckets)"
