"""Intrinsic evaluation of word vectors: Google analogies and word-pair similarity (numpy only).

The figures equal gensim's ``KeyedVectors.evaluate_word_analogies`` and ``evaluate_word_pairs``
(gensim 4.x) on the same vectors, because every rule is theirs:

- **Vocabulary.** Words in frequency order (most frequent first); only the first
  ``restrict_vocab`` take part (analogies: 30,000 by default, as word2vec's ``compute-accuracy``
  and ``../shared/peers/unsup.py``; note that gensim's own default is 300,000; word pairs:
  300,000, gensim's default). With ``case_insensitive`` (the default) question words and
  vocabulary words are compared upper-cased (``str.upper``) and a word with several case
  variants gets the vector of the most frequent one.
- **Analogies** (``: section`` lines, then ``a b c d``): a question with any of its four words
  outside the restricted vocabulary is OOV, counted and skipped. The answer is 3CosAdd on unit
  vectors over the restricted vocabulary: the unit mean of ``+b +c -a``; the rows of a, b, c are
  excluded, then (gensim's loop over its five best) a candidate whose upper-cased form is one of
  the three question words is passed over. Accuracy = correct / answered (0.0 when nothing was
  answered); the total is the sum over sections; the OOV ratio is OOV / questions.
- **Word pairs** (WordSim-353, SimLex-999: ``word<TAB>word<TAB>score``, ``#`` comments): pairs
  with a word outside the restricted vocabulary are OOV and skipped; the others give the cosine of
  their unit vectors (float32, as gensim); Spearman (average ranks for ties) and Pearson against
  the human scores; the OOV ratio is OOV / (used + OOV).

Scores are computed for many questions at once (one matrix product per block); a question whose
best candidates are closer than ``EXACT_GAP * dim`` is answered again with gensim's own per-question
arithmetic, so ties and near ties resolve as gensim resolves them.

Stricter than gensim on purpose: a line that is neither a section, a question of four words, a
comment nor blank is an error naming ``file:line`` (gensim skips it silently), as are a question
before the first section and a file without any section; a pair file may start with one header
line (the original SimLex-999 layout, with its ``SimLex999`` score column, is read too).
Two-sided p-values as scipy's (an incomplete beta function here). Left out: 3CosMul,
``dummy4unknown``.

The vectors come from ``embedcli.wordvectors`` (a model's word rows, word2vec/GloVe files).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.correlation import pearson, pearson_pvalue, spearman, spearman_pvalue
from embedcli.errors import DataError, FormatError, UsageError
from embedcli.limits import max_line_bytes
from embedcli.wordvectors import WordVectors, bounded_lines, decode_line

#: gensim's defaults (analogies: word2vec's compute-accuracy threshold, used by the benchmarks)
ANALOGY_RESTRICT = 30_000
PAIRS_RESTRICT = 300_000
#: a question whose best candidates' cosines differ by less than ``EXACT_GAP * dim`` is answered
#: again with gensim's per-question arithmetic: a float32 dot product of length d summed in
#: another order moves by at most about ``d * 2**-24`` of the vectors' norms (x2 per gap, x4 margin)
EXACT_GAP = 8 * 2.0**-24
#: gensim looks at its five best answers (``most_similar(topn=5)``) for a non-question word
TOPN = 5
#: scores held at once: queries per block x restricted vocabulary (64 MiB of float32)
BLOCK_SCORES = 1 << 24


# -- analogies ---------------------------------------------------------------------------------------
@dataclass
class AnalogySection:
    name: str
    correct: int = 0
    incorrect: int = 0
    oov: int = 0

    @property
    def answered(self) -> int:
        return self.correct + self.incorrect

    @property
    def questions(self) -> int:
        return self.answered + self.oov

    @property
    def accuracy(self) -> float:
        """gensim's score: correct / answered, 0.0 when nothing was answered."""
        return self.correct / self.answered if self.answered else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.name,
            "accuracy": self.accuracy,
            "correct": self.correct,
            "answered": self.answered,
            "oov": self.oov,
            "questions": self.questions,
        }


@dataclass
class AnalogyResult:
    path: str
    restrict_vocab: int
    case_insensitive: bool
    sections: list[AnalogySection]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> AnalogySection:
        return AnalogySection(
            "Total accuracy",
            sum(s.correct for s in self.sections),
            sum(s.incorrect for s in self.sections),
            sum(s.oov for s in self.sections),
        )

    @property
    def accuracy(self) -> float:
        return self.total.accuracy

    @property
    def oov_ratio(self) -> float:
        """Percent of questions skipped for an out-of-vocabulary word (gensim's figure)."""
        total = self.total
        return float(total.oov) / total.questions * 100 if total.questions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "accuracy": self.accuracy,
            "restrict_vocab": self.restrict_vocab,
            "case_insensitive": self.case_insensitive,
            "oov_ratio": self.oov_ratio,
            "sections": [s.to_dict() for s in self.sections],
            "total": self.total.to_dict(),
            "seconds": self.seconds,
            "notes": list(self.notes),
        }


@dataclass
class _Question:
    section: int
    words: tuple[str, str, str, str]  # a b c expected, as compared (upper-cased if asked)


def read_analogies(path: str | Path, *, case_insensitive: bool = True):
    """``(section names, questions)`` of a Google analogy file (see the module docstring)."""
    path = Path(path)
    check_file(path)
    names: list[str] = []
    questions: list[_Question] = []
    for lineno, raw in bounded_lines(path):
        line = decode_line(raw, path, lineno)
        if lineno == 1:
            line = line.removeprefix("\ufeff")
        if line.startswith(": "):
            names.append(line.lstrip(": ").strip())
            continue
        words = line.split()
        if not words:
            continue
        if len(words) != 4:
            raise DataError(
                f"{path}:{lineno}: expected a section line ': NAME' or a question of four "
                f"words 'a b c d', found {len(words)} word{'s' if len(words) != 1 else ''}"
            )
        if not names:
            raise DataError(f"{path}:{lineno}: a question before the first section line ': NAME'")
        if case_insensitive:
            words = [w.upper() for w in words]
        questions.append(_Question(len(names) - 1, tuple(words)))  # type: ignore[arg-type]
    if not names:
        raise DataError(f"{path}: no analogy section (a line ': NAME') in the file")
    return names, questions


def evaluate_analogies(
    vectors: WordVectors,
    path: str | Path,
    *,
    restrict_vocab: int = ANALOGY_RESTRICT,
    case_insensitive: bool = True,
) -> AnalogyResult:
    """Accuracy per section and in total, as gensim's ``evaluate_word_analogies``."""
    if restrict_vocab < 1:
        raise UsageError(f"restrict_vocab must be 1 or more, not {restrict_vocab}")
    start = time.perf_counter()
    names, questions = read_analogies(path, case_insensitive=case_insensitive)
    sections = [AnalogySection(n) for n in names]
    ok = vectors.index(case_insensitive=case_insensitive, restrict=restrict_vocab)
    known = []
    for q in questions:
        if all(w in ok for w in q.words):
            known.append(q)
        else:
            sections[q.section].oov += 1
    result = AnalogyResult(str(path), restrict_vocab, case_insensitive, sections)
    if known:
        stop = min(restrict_vocab, len(vectors.words))
        ids = np.array([[ok[w] for w in q.words] for q in known], dtype=np.int64)
        upper = [w.upper() if case_insensitive else w for w in vectors.words[:stop]]
        hits = _answer(vectors.table(stop), ids, upper, [q.words for q in known])
        for q, hit in zip(known, hits, strict=True):
            if hit:
                sections[q.section].correct += 1
            else:
                sections[q.section].incorrect += 1
    if not questions:
        result.notes.append(f"{path}: no questions")
    elif not known:
        result.notes.append(
            f"{path}: every question has a word outside the {restrict_vocab:,} most frequent "
            "words; accuracy 0"
        )
    result.seconds = time.perf_counter() - start
    return result


def _answer(
    table: np.ndarray, ids: np.ndarray, upper: list[str], words: list[tuple[str, ...]]
) -> list[bool]:
    """Whether gensim's 3CosAdd answers each question (rows ``a b c expected``) right."""
    with np.errstate(divide="ignore", invalid="ignore"):
        norms = np.linalg.norm(table, axis=1)  # gensim's fill_norms: float32
        unit = table / norms[:, None]
        n, dim = table.shape
        queries = _queries(unit, ids)
        hits: list[bool] = []
        block = max(1, min(1024, BLOCK_SCORES // max(n, 1)))
        k = min(TOPN + 4, n)  # gensim looks at its 8 best (5 + the 3 question rows); one more
        for s in range(0, len(ids), block):
            q = queries[s : s + block]
            neg = q @ table.T  # gensim's dists, negated in place: one (block, n) array
            np.divide(neg, norms, out=neg)
            np.negative(neg, out=neg)
            part = (
                np.argpartition(neg, k - 1, axis=1)[:, :k]
                if k < n
                else np.tile(np.arange(n), (len(q), 1))
            )
            top = np.take_along_axis(neg, part, axis=1)
            order = np.argsort(top, axis=1, kind="stable")
            part = np.take_along_axis(part, order, axis=1)
            top = -np.take_along_axis(top, order, axis=1)
            gaps = np.abs(np.diff(top, axis=1))
            unsure = ~np.all(gaps >= EXACT_GAP * dim, axis=1) | ~np.all(np.isfinite(top), axis=1)
            for j in range(len(q)):
                qi = s + j
                if unsure[j]:
                    best = _exact_best(table, norms, queries[qi], ids[qi, :3], n)
                else:
                    best = [int(i) for i in part[j]]
                hits.append(_pick(best, ids[qi, :3], upper, words[qi]))
    return hits


def _queries(unit: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """gensim's ``get_mean_vector(pre_normalize=True, post_normalize=True)`` of ``+b +c -a``."""
    mean = unit[ids[:, 1]] + unit[ids[:, 2]]  # float32, as gensim's in-place float32 sums
    mean -= unit[ids[:, 0]]
    mean64 = mean.astype(np.float64) / 3.0
    norm = np.sqrt(np.einsum("ij,ij->i", mean64, mean64))
    safe = np.where(norm > 0, norm, 1.0)
    return np.ascontiguousarray((mean64 * (1.0 / safe)[:, None]).astype(np.float32))


def _exact_best(
    table: np.ndarray, norms: np.ndarray, query: np.ndarray, abc: np.ndarray, n: int
) -> list[int]:
    """gensim's own ``most_similar`` arithmetic for one query: its 8 best rows in its order."""
    dists = np.dot(table, query) / norms
    topn = TOPN + 3
    x = -dists
    if topn >= x.size:
        return [int(i) for i in np.argsort(x)[:topn]]
    most = np.argpartition(x, topn)[:topn]
    return [int(i) for i in most.take(np.argsort(x.take(most)))]


def _pick(best: list[int], abc: np.ndarray, upper: list[str], question: tuple[str, ...]) -> bool:
    """gensim's loop: drop the question rows, keep five, take the first whose word is not a
    question word; the answer is right when that word (else the last one looked at) is expected."""
    skip = {int(i) for i in abc}
    ignore = set(question[:3])
    predicted = None
    for i in [i for i in best if i not in skip][:TOPN]:
        predicted = upper[i]
        if predicted not in ignore:
            break
    return predicted == question[3]


def check_file(path: Path) -> None:
    """A readable regular file (or a device such as /dev/stdin), else one clear error."""
    if path.is_dir():
        raise DataError(f"cannot read {path}: it is a directory")
    if not path.exists():
        raise DataError(f"cannot read {path}: no such file")


# -- word pairs --------------------------------------------------------------------------------------
@dataclass
class PairsResult:
    path: str
    restrict_vocab: int
    case_insensitive: bool
    pairs: int  # pairs with both words known (used)
    oov: int
    spearman: float | None
    pearson: float | None
    spearman_pvalue: float | None = None
    pearson_pvalue: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def oov_ratio(self) -> float:
        total = self.pairs + self.oov
        return float(self.oov) / total * 100 if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "spearman": self.spearman,
            "pearson": self.pearson,
            "spearman_pvalue": self.spearman_pvalue,
            "pearson_pvalue": self.pearson_pvalue,
            "pairs": self.pairs,
            "oov": self.oov,
            "oov_ratio": self.oov_ratio,
            "restrict_vocab": self.restrict_vocab,
            "case_insensitive": self.case_insensitive,
            "seconds": self.seconds,
            "notes": list(self.notes),
        }


def read_pairs(path: str | Path, *, delimiter: str = "\t") -> list[tuple[str, str, float]]:
    """``(word, word, score)`` of a word-pair file, as gensim splits them (words kept as written)."""
    path = Path(path)
    check_file(path)
    if not delimiter:
        raise UsageError("the delimiter must not be empty")
    limit = max_line_bytes()
    pairs: list[tuple[str, str, float]] = []
    column = 2
    data_lines = 0
    try:
        # universal newlines, as gensim's text-mode reading
        with open(path, encoding="utf-8", newline=None) as f:
            for lineno, line in enumerate(iter(lambda: f.readline(limit + 1), ""), 1):
                if len(line) > limit and not line.endswith("\n"):
                    raise FormatError(f"{path}:{lineno}: line longer than {limit:,} characters")
                if lineno == 1:
                    line = line.removeprefix("\ufeff")
                if line.startswith("#") or not line.strip():
                    continue
                data_lines += 1
                fields = line.split(delimiter)
                if data_lines == 1:
                    header = [h.strip().lower() for h in fields]
                    if "simlex999" in header:  # the original SimLex-999 file
                        column = header.index("simlex999")
                        continue
                score = _score(fields, column)
                if score is None:
                    if data_lines == 1:
                        continue  # a header line
                    want = "3" if column == 2 else f"at least {column + 1}"
                    raise DataError(
                        f"{path}:{lineno}: expected {want} fields separated by "
                        f"{delimiter!r} (word, word, score), found {len(fields)}"
                        + (
                            ""
                            if len(fields) < column + 1
                            else f" and score {fields[column].strip()!r}"
                        )
                    )
                a, b = fields[0], fields[1]
                if column != 2:  # the original SimLex-999 layout: words are plain columns
                    a, b = a.strip(), b.strip()
                pairs.append((a, b, score))
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return pairs


def _score(fields: list[str], column: int) -> float | None:
    if (len(fields) != 3) if column == 2 else (len(fields) <= column):
        return None
    try:
        value = float(fields[column])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def evaluate_pairs(
    vectors: WordVectors,
    path: str | Path,
    *,
    restrict_vocab: int = PAIRS_RESTRICT,
    case_insensitive: bool = True,
    delimiter: str = "\t",
) -> PairsResult:
    """Spearman and Pearson correlation with human scores, as gensim's ``evaluate_word_pairs``."""
    if restrict_vocab < 1:
        raise UsageError(f"restrict_vocab must be 1 or more, not {restrict_vocab}")
    start = time.perf_counter()
    pairs = read_pairs(path, delimiter=delimiter)
    ok = vectors.index(case_insensitive=case_insensitive, restrict=restrict_vocab)
    gold: list[float] = []
    rows: list[tuple[int, int]] = []
    oov = 0
    for a, b, score in pairs:
        if case_insensitive:
            a, b = a.upper(), b.upper()
        if a in ok and b in ok:
            gold.append(score)
            rows.append((ok[a], ok[b]))
        else:
            oov += 1
    model = pair_cosines(vectors, rows)
    result = PairsResult(str(path), restrict_vocab, case_insensitive, len(rows), oov, None, None)
    if not pairs:
        result.notes.append(f"{path}: no word pairs")
    elif len(rows) < 2:
        result.notes.append(
            f"{path}: {len(rows)} pair{'s' if len(rows) != 1 else ''} with both words among the "
            f"{restrict_vocab:,} most frequent; no correlation"
        )
    else:
        g = np.asarray(gold, dtype=np.float64)
        m = np.asarray(model, dtype=np.float64)
        result.pearson = pearson(g, m)
        result.spearman = spearman(g, m)
        result.pearson_pvalue = pearson_pvalue(result.pearson, len(g))
        result.spearman_pvalue = spearman_pvalue(result.spearman, len(g))
        if result.pearson is None:
            result.notes.append(f"{path}: constant scores; no correlation")
    result.seconds = time.perf_counter() - start
    return result


def pair_cosines(vectors: WordVectors, rows: list[tuple[int, int]]) -> np.ndarray:
    """gensim's ``similarity``: the float32 dot product of float32 unit vectors."""
    if not rows:
        return np.zeros(0, dtype=np.float32)
    ids = np.asarray(rows, dtype=np.int64)
    needed = np.unique(ids)
    table = np.asarray(vectors.vectors[needed], dtype=np.float32)
    # gensim's unitvec: BLAS nrm2 and scal by 1 / norm, both in double, rounded to float32
    wide = table.astype(np.float64)
    norm = np.sqrt(np.einsum("ij,ij->i", wide, wide))
    unit = (wide * (1.0 / np.where(norm > 0, norm, 1.0))[:, None]).astype(np.float32)
    pos = np.searchsorted(needed, ids)
    return np.array([np.dot(unit[i], unit[j]) for i, j in pos], dtype=np.float32)
