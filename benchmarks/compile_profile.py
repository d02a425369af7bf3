"""Where a cold run's compile time goes, per numba function (issue #8, "The first run").

Runs ``embedcli ARGS`` in this process with numba's ``numba:compile`` events timed in CPU
seconds (``time.process_time``: less sensitive to other load than wall time), each function's
time *exclusive* of the compiles nested in it, and prints the largest. Use an empty cache:

    rm -rf /tmp/nc && NUMBA_CACHE_DIR=/tmp/nc PYTHONPATH=$PWD python benchmarks/compile_profile.py \\
        train sample_data/stdlib/train.txt -o /tmp/m --force --dim 32 --epochs 1 --seed 1 --threads 1 -q
"""

import collections
import runpy
import sys
import time

from numba.core import event

stack = []
selft = collections.Counter()
count = collections.Counter()


class L(event.Listener):
    def on_start(self, ev):
        stack.append([ev.data.get("dispatcher"), time.process_time(), 0.0])

    def on_end(self, ev):
        d, t0, child = stack.pop()
        dt = time.process_time() - t0
        name = getattr(getattr(d, "py_func", None), "__qualname__", str(d))
        selft[name] += dt - child
        count[name] += 1
        if stack:
            stack[-1][2] += dt


event.register("numba:compile", L())
sys.argv = ["embedcli", *sys.argv[1:]]
t0 = time.process_time()
try:
    runpy.run_module("embedcli", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    tot = sum(selft.values())
    print(
        f"total compile cpu {tot:.2f} s, process cpu {time.process_time() - t0:.2f}",
        file=sys.stderr,
    )
    for k, v in selft.most_common(40):
        print(f"{v:7.2f} {count[k]:2d} {k}", file=sys.stderr)
