#!/usr/bin/env bash
# `make demo`: corpus -> vocabulary -> ids (the seeds' worked example) -> model -> queries.
# Runs whatever commands exist (checked with `embedcli COMMAND --help`), so it grows as they land.
set -euo pipefail

cd "$(dirname "$0")/.."
EMBEDCLI=${EMBEDCLI:-.venv/bin/embedcli}
OUT=demo_out
DATA=sample_data/stdlib
SEED=sample_data/seed/sentences.txt
mkdir -p "$OUT"

has() { "$EMBEDCLI" "$1" --help >/dev/null 2>&1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "1. build-vocab on the stdlib docstring corpus ($DATA/train.txt)"
"$EMBEDCLI" build-vocab "$DATA/train.txt" -o "$OUT/vocab.tsv" --min-count 2

step "2. the seed example: 'Hope to see you soon' / 'Nice meeting you', by order of appearance"
head -2 "$SEED" | "$EMBEDCLI" build-vocab - -o "$OUT/seed_vocab.tsv" --order appearance --no-oov -q
grep -v '^#' "$OUT/seed_vocab.tsv" | awk -F'\t' '{printf "  %s -> %s\n", $1, ($2 == "" ? "(padding)" : $2)}' >&2
got=$(head -2 "$SEED" | "$EMBEDCLI" encode - --vocab "$OUT/seed_vocab.tsv" --maxlen 5 -o - -q)
printf '%s\n' "$got"
expected=$'1 2 3 4 5\n6 7 4 0 0'
if [[ "$got" != "$expected" ]]; then
    echo "demo: the seed example changed!" >&2
    exit 1
fi
echo "  matches the seed: [[1, 2, 3, 4, 5], [6, 7, 4, 0, 0]], Embedding(8, ...)" >&2
"$EMBEDCLI" encode "$DATA/test.txt" --vocab "$OUT/vocab.tsv" --maxlen 40 -o "$OUT/test_ids.npz"

if ! has train; then
    echo "(embedcli train is not available yet: stopping here)" >&2
    exit 0
fi

step "3. train on $DATA/train.txt, test on $DATA/test.txt"
"$EMBEDCLI" train "$DATA/train.txt" -o "$OUT/model" --test "$DATA/test.txt" \
    --dim 32 --epochs 10 --buckets 200000 --seed 1

MODEL=$OUT/model
if has info; then
    step "4. info"
    "$EMBEDCLI" info "$MODEL"
fi
if has lookup; then
    step "5. lookup: the Embedding layer as a table lookup"
    "$EMBEDCLI" lookup "$MODEL" --sentence "Nice to see you again" --maxlen 5 --format tsv | cut -c1-100
fi
if has nearest; then
    step "6. nearest words"
    "$EMBEDCLI" nearest "$MODEL" socket thread json string -k 5
fi
if has predict; then
    step "7. predict"
    printf '%s\n' \
        "Open a TCP connection to the mail server and send the message" \
        "Wait until the lock is released by the worker thread" \
        "Parse the XML document and return the root element" \
        "Split the string on whitespace and strip punctuation" |
        "$EMBEDCLI" predict "$MODEL" - --k 2 --proba
fi
if has evaluate; then
    step "8. evaluate"
    "$EMBEDCLI" evaluate "$MODEL" "$DATA/test.txt"
fi
if has export; then
    step "9. export word vectors (word2vec text format)"
    "$EMBEDCLI" export "$MODEL" --format word2vec -o "$OUT/vectors.txt" --words-only
    head -c 300 "$OUT/vectors.txt" | head -2 | cut -c1-100
fi
if has evaluate-vectors; then
    step "10. evaluate the word vectors (analogies, word-pair similarity; tiny demo files)"
    "$EMBEDCLI" evaluate-vectors "$MODEL" --analogies "$DATA/analogies.txt" \
        --similarity "$DATA/wordpairs.tsv"
fi
echo >&2
echo "demo finished: outputs in $OUT/" >&2
