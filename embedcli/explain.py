"""Per-feature explanations of a linear classifier's decision (``predict --explain``,
``Model.explain``): every token's, n-gram's and subword's exact share of the chosen label's score.

A model whose output is linear over mean, sum or flatten pooling has a logit that is a sum of
one term per feature row plus the bias (``metrics.linear_contributions``); the names of the
rows come from the document's text, the model's tokenizer and ``model.featurize``'s order
(words, then word n-grams or character n-grams). Imports the engine (numba).

Left out: models with a hidden layer or max pooling (no exact additive split exists).
"""

from __future__ import annotations

from typing import Any

from embedcli.errors import UsageError


def check_explainable(spec: Any) -> None:
    if spec.hidden > 0 or spec.pool not in ("mean", "sum", "flatten"):
        raise UsageError(
            "--explain gives exact contributions only for a linear output over mean, sum or flatten "
            f"pooling; this model has pool={spec.pool!r}, hidden={spec.hidden}"
        )


def explain_batch(m: Any, enc: Any, batch: list[Any], chosen: list[Any]) -> list[dict | None]:
    """For every line: the features (words, then n-grams) with their share of the top label's logit."""
    import numpy as np

    from embedcli import model as engine
    from embedcli.metrics import linear_contributions

    spec, params, vocab = m.spec, m.params, m.vocab
    feats, feat_off = engine.featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    out: list[dict | None] = []
    for j, (ids, _) in enumerate(chosen):
        rows = feats[feat_off[j] : feat_off[j + 1]]
        if not len(ids) or not len(rows):
            out.append(None)
            continue
        label = int(ids[0])
        column, sign = (
            (0, 1.0 if label == 1 else -1.0) if spec.objective == "binary" else (label, 1.0)
        )
        contrib, bias = linear_contributions(
            np.asarray(params.embeddings[rows]),
            params.out_W,
            params.out_b,
            column,
            pool=spec.pool,
            maxlen=spec.maxlen,
            sign=sign,
        )
        words = feature_names(
            vocab, batch[j].text, enc.tokens[enc.offsets[j] : enc.offsets[j + 1]], spec
        )
        order = np.argsort(-np.abs(contrib), kind="stable")
        out.append(
            {
                "label": label,
                "score": float(contrib.sum() + bias),
                "bias": bias,
                "features": [(words[i], float(contrib[i])) for i in order],
            }
        )
    return out


def feature_names(vocab: Any, text: str, word_ids: Any, spec: Any) -> list[str]:
    """Names of a document's feature rows: its words, then what ``featurize`` appended."""
    names = word_feature_names(vocab, text, word_ids, spec)
    if spec.has_subwords:
        from embedcli.ftcompat import EOS
        from embedcli.subwords import char_ngrams

        reserved = 2 if vocab.oov else 1
        known = [vocab.tokens[i] for i in word_ids if i >= reserved]
        unknown = [t for t in vocab.tokenizer.tokenize(text) if t not in vocab.token_to_id]
        for word in [*known, *unknown]:
            if word != EOS:
                names += char_ngrams(word, spec.minn, spec.maxn)
    return names


def word_feature_names(vocab: Any, text: str, word_ids: Any, spec: Any) -> list[str]:
    """Names of the rows of a document's words, ``</s>`` and word n-grams."""
    from embedcli.model import feature_spans

    toks = vocab.tokenizer.tokenize(text)
    if spec.ngram_hash and spec.word_ngrams > 1 and spec.buckets > 0:
        # fastText's n-grams run over every token (unknown words and </s> included)
        line = toks if vocab.tokenizer_config.eos else [*toks, "</s>"]
        known = [t for t in toks if t in vocab.token_to_id] if vocab.unk_id is None else toks
        if len(known) != len(word_ids):
            known = [vocab.tokens[i] for i in word_ids]
        n = spec.word_ngrams
        grams = [
            " ".join(line[i:j])
            for i in range(len(line))
            for j in range(i + 2, min(len(line), i + n) + 1)
        ]
        return [*known, *([] if vocab.tokenizer_config.eos else ["</s>"]), *grams]
    if vocab.unk_id is None:  # unknown words were dropped by the encoder
        toks = [t for t in toks if t in vocab.token_to_id]
    if len(toks) != len(word_ids):
        toks = [vocab.tokens[i] for i in word_ids]
    words = [*toks, "</s>"]
    return list(toks) + [" ".join(words[i:j]) for i, j in feature_spans(len(toks), spec)]
