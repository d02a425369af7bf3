#!/usr/bin/env bash
# Creates the fastText venv that benchmarks/bench_train.py times embedcli against.
#
#   bash benchmarks/setup_peers.sh            # -> prints the venv's python path on the last line
#   BENCH_VENV=/some/dir bash benchmarks/setup_peers.sh
#   bash benchmarks/setup_peers.sh --with-peers   # also /work/shared/peers/setup.sh (torch, keras)
#
# The fastText binding is pinned to fasttext-wheel==0.9.2: fasttext 0.9.3 and fasttext-numpy2
# raise "Encountered NaN" on softmax/wordNgrams=1 (see ../shared/peers/RESULTS.md, note 1).
# It goes into its own venv (default /tmp/embedcli-bench-venv), never into the project's .venv.
# If /tmp/peers-venv (made by ../shared/peers/setup.sh) already has a working fasttext-wheel
# 0.9.2, that venv is reused instead. Idempotent: a re-run only checks.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS_DIR="${PEERS_DIR:-$HERE/../../shared/peers}"
VENV="${BENCH_VENV:-/tmp/embedcli-bench-venv}"
PEERS_VENV="${PEERS_VENV:-/tmp/peers-venv}"
WITH_PEERS=0
for a in "$@"; do
  case "$a" in
    --with-peers) WITH_PEERS=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done

# A fastText smoke test: softmax with wordNgrams 1 (several models in one process, where the
# 0.9.3 NaN bug shows up) and 2, 2 threads, predict on a list, test().
smoke() {
  "$1" - <<'EOF'
import os, random, sys, tempfile
from importlib.metadata import version
import fasttext, numpy
assert version("fasttext-wheel") == "0.9.2", version("fasttext-wheel")
rng = random.Random(0)
vocab = [f"w{i}" for i in range(300)]
d = tempfile.mkdtemp(prefix="ft-smoke-")
p = os.path.join(d, "t.txt")
with open(p, "w") as f:
    for _ in range(3000):
        lab = rng.randrange(4)
        toks = rng.choices(vocab, k=rng.randint(4, 20)) + [f"k{lab}x{rng.randrange(20)}"] * 2
        f.write(f"__label__{lab} " + " ".join(toks) + "\n")
for ng in (1, 1, 1, 2):
    m = fasttext.train_supervised(p, lr=0.5, epoch=3, dim=50, wordNgrams=ng, minCount=1,
                                  loss="softmax", thread=2, verbose=0)
    labels, probs = m.predict(["w1 w2 k1x3", "w5 k2x7"], k=1)
    numpy.asarray(probs)
    n, p1, _ = m.test(p)
    assert n == 3000 and p1 > 0.5, (ng, n, p1)
print(f"fastText smoke test ok (fasttext-wheel {version('fasttext-wheel')}, numpy {numpy.__version__})", file=sys.stderr)
EOF
}

if [[ "$WITH_PEERS" == 1 ]]; then
  echo "[setup_peers] running $PEERS_DIR/setup.sh (torch, keras, fastText) for --with-peers" >&2
  bash "$PEERS_DIR/setup.sh" >&2
fi

if [[ -x "$PEERS_VENV/bin/python" ]] && smoke "$PEERS_VENV/bin/python" 2>/dev/null; then
  echo "[setup_peers] reusing $PEERS_VENV (fasttext-wheel 0.9.2 works there)" >&2
  echo "$PEERS_VENV/bin/python"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  PY_BASE="${BENCH_PYTHON:-python3}"
  echo "[setup_peers] creating $VENV with $PY_BASE" >&2
  "$PY_BASE" -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! smoke "$PY" 2>/dev/null; then
  echo "[setup_peers] installing fasttext-wheel==0.9.2 into $VENV" >&2
  "$PY" -m pip install --disable-pip-version-check -q 'fasttext-wheel==0.9.2' numpy >&2
  smoke "$PY" || { echo "[setup_peers] ERROR: fasttext-wheel 0.9.2 failed the smoke test" >&2; exit 1; }
fi
echo "$PY"
