"""The text ``predict`` writes for a batch of documents, shared by the local and the Dask engine.

Each document's line (and its ``--explain`` lines) depend on that document alone, so the text
of a corpus is the concatenation of the text of its batches or partitions, in order: the Dask
engine's parts joined are the local engine's output byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embedcli.escapes import data_field


@dataclass(frozen=True)
class PredictFormat:
    """What a ``predict`` line holds: the output format, the label names as printed, and the
    decision options."""

    fmt: str  # text, tsv or json
    names: list[str]
    k: int | None = None
    threshold: float | None = None
    proba: bool = False
    explain: bool = False


def label_names(labels: Sequence[str], prefix: str, fmt: str) -> list[str]:
    """Label names as ``predict --format fmt`` prints them (the prefix in text; a control
    character escaped outside JSON, so one input line stays one output line)."""
    names = [prefix + lab for lab in labels] if fmt == "text" else list(labels)
    return names if fmt == "json" else [data_field(name) for name in names]


def prediction_text(m: Any, batch: Sequence[Any], how: PredictFormat, threads: int) -> str:
    """The lines ``predict`` writes for the documents ``batch`` (``api_model.Model`` ``m``)."""
    lines = []
    for p in m.predict_batch(batch, how.k, how.threshold, explain=how.explain, threads=threads):
        lines.append(format_prediction(how.fmt, how.names, p.ids, p.probs, how.proba))
        if how.explain:
            lines.append(format_explanation(how.fmt, p.explanation, how.names))
    return "".join(lines)


def format_prediction(fmt: str, names: list[str], ids: Any, ps: Any, proba: bool) -> str:
    if fmt == "json":
        return (
            json.dumps(
                {"labels": [names[i] for i in ids], "probabilities": [float(p) for p in ps]},
                ensure_ascii=False,
            )
            + "\n"
        )
    if fmt == "tsv":
        cells = [
            f"{names[i]}\t{float(p):.6g}" if proba else names[i]
            for i, p in zip(ids, ps, strict=True)
        ]
        return "\t".join(cells) + "\n"
    # fastText: std::cout << label [<< ' ' << prob] with the default 6 significant digits.
    cells = [
        f"{names[i]} {float(p):g}" if proba else names[i] for i, p in zip(ids, ps, strict=True)
    ]
    return " ".join(cells) + "\n"


def format_explanation(fmt: str, ex: dict | None, names: list[str]) -> str:
    if ex is None:
        return "" if fmt != "json" else json.dumps({"explain": None}) + "\n"
    if fmt == "json":
        return (
            json.dumps(
                {
                    "explain": {
                        "label": names[ex["label"]],
                        "score": ex["score"],
                        "bias": ex["bias"],
                        "contributions": [{"feature": f, "value": v} for f, v in ex["features"]],
                    }
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    head = f"#\tscore of {names[ex['label']]} = {ex['score']:+.6f} (bias {ex['bias']:+.6f})\n"
    return head + "".join(f"#\t{v:+.6f}\t{data_field(f)}\n" for f, v in ex["features"])


def embed_text(vectors: Any) -> str:
    """``embed``'s TSV lines for float32 rows ``vectors``."""
    import numpy as np

    from embedcli.exporters import format_rows

    return "".join(format_rows(np.asarray(vectors, dtype=np.float32), "\t"))
