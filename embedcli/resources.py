"""The one place that reads the machine: usable cores, the memory limit and the byte budget of a
featurized corpus. (The environment variables themselves are parsed in ``embedcli.limits``.)"""

from __future__ import annotations

import os

import numpy as np

from embedcli import limits

#: Largest featurized copy kept whole by default: beyond it, training memory would be dominated
#: by the n-gram ids rather than bounded by the encoded word corpus and the parameters.
DEFAULT_FEATURE_BUDGET = 256 << 20


def available_cores() -> int:
    """Cores this process may run on (honours taskset/cgroup affinity, unlike os.cpu_count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def memory_limit() -> int:
    """Bytes one growing array may take in RAM: ``EMBEDCLI_MEM_LIMIT``, else a quarter of the
    physical memory (see ``embedcli.limits``)."""
    return limits.memory_limit()


def feature_budget() -> int:
    """Bytes the featurized copy of a corpus may take before it is built a chunk at a time:
    ``EMBEDCLI_MEM_LIMIT`` when set, else the smaller of 256 MiB and a quarter of the RAM."""
    if os.environ.get("EMBEDCLI_MEM_LIMIT", "").strip():
        return memory_limit()
    return min(memory_limit(), DEFAULT_FEATURE_BUDGET)


def feature_bytes(lengths: np.ndarray) -> int:
    """Bytes of a featurized corpus with these per-document lengths (int32 rows, int64 offsets)."""
    return int(lengths.sum()) * 4 + 8 * (len(lengths) + 1)


def feature_chunk_docs(lengths: np.ndarray, budget: int) -> int:
    """Documents per chunk so that a chunk's featurized rows take about ``min(budget / 4, 64 MiB)``
    (at least one document)."""
    n = len(lengths)
    total = max(1, int(lengths.sum()) * 4)
    target = max(1, min(budget // 4, 64 << 20))
    return max(1, min(n, int(n * target // total)))
