"""Build a small real labelled corpus from Python standard-library docstrings (PSF License).

Each paragraph of a docstring of a module, class, function or method becomes one document,
labelled by the module's area: ``net``, ``text``, ``concurrency`` or ``data``. The output is
fastText format (``__label__net some text``) in ``sample_data/stdlib/{train,test}.txt``.

Deterministic for a given Python version (the committed files were made with CPython 3.11.7):
modules and members are visited in sorted order, paragraphs are normalized (whitespace collapsed),
short ones (< 6 words) and doctest blocks are skipped, duplicates are removed (a text found in
two areas is dropped from both), every class is capped at ``CAP`` documents, and a seeded shuffle
then a stratified 80/20 split gives train and test.

    python sample_data/make_stdlib_corpus.py          # writes sample_data/stdlib/
    python sample_data/make_stdlib_corpus.py --check  # exits 1 if the files would change
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import platform
import random
import re
import sys
import warnings
from pathlib import Path

AREAS: dict[str, list[str]] = {
    "net": [
        "email", "email.charset", "email.contentmanager", "email.encoders", "email.errors",
        "email.feedparser", "email.generator", "email.header", "email.headerregistry",
        "email.iterators", "email.message", "email.mime.multipart", "email.mime.text",
        "email.parser", "email.policy", "email.utils", "ftplib", "http", "http.client",
        "http.cookiejar", "http.cookies", "http.server", "imaplib", "ipaddress", "mailbox",
        "poplib", "smtplib", "socket", "socketserver", "ssl", "urllib.error", "urllib.parse",
        "urllib.request", "urllib.response", "urllib.robotparser", "webbrowser", "wsgiref.handlers",
        "wsgiref.headers", "wsgiref.simple_server", "wsgiref.util", "wsgiref.validate",
        "xmlrpc.client", "xmlrpc.server",
    ],
    "text": [
        "difflib", "fnmatch", "gettext", "html", "html.entities", "html.parser", "locale",
        "pprint", "re", "reprlib", "rlcompleter", "shlex", "string", "stringprep", "textwrap",
        "unicodedata", "codecs", "encodings", "encodings.idna", "encodings.punycode",
        "sre_compile", "sre_parse", "tokenize", "calendar", "builtins:str", "curses.ascii",
    ],
    "concurrency": [
        "asyncio", "asyncio.base_events", "asyncio.events", "asyncio.exceptions",
        "asyncio.futures", "asyncio.locks", "asyncio.protocols", "asyncio.queues",
        "asyncio.runners", "asyncio.selector_events", "asyncio.streams", "asyncio.subprocess",
        "asyncio.taskgroups", "asyncio.tasks", "asyncio.timeouts", "asyncio.transports",
        "asyncio.unix_events", "concurrent.futures", "concurrent.futures._base",
        "concurrent.futures.process", "concurrent.futures.thread", "contextvars",
        "multiprocessing", "multiprocessing.connection", "multiprocessing.context",
        "multiprocessing.managers", "multiprocessing.pool", "multiprocessing.process",
        "multiprocessing.queues", "multiprocessing.shared_memory", "multiprocessing.synchronize",
        "queue", "sched", "selectors", "signal", "subprocess", "threading",
    ],
    "data": [
        "base64", "binascii", "configparser", "csv", "dbm", "json", "json.decoder",
        "json.encoder", "marshal", "pickle", "pickletools", "plistlib", "shelve", "sqlite3",
        "struct", "tarfile", "tomllib", "xml.dom", "xml.dom.minidom", "xml.dom.pulldom",
        "xml.etree.ElementTree", "xml.sax", "xml.sax.handler", "xml.sax.saxutils",
        "xml.sax.xmlreader", "xml.parsers.expat", "zipfile", "zlib", "gzip", "bz2", "lzma",
        "netrc", "copyreg", "array",
    ],
}  # fmt: skip

MIN_WORDS = 6
MAX_WORDS = 120
CAP = 700  # documents per class at most (keeps the classes balanced)
SEED = 20240501
TEST_SHARE = 0.2
OUT = Path(__file__).resolve().parent / "stdlib"


def docstrings(module_name: str) -> list[str]:
    """Docstrings of a module and of the classes/functions/methods defined in it, sorted order.

    ``"module:Class"`` takes one class only (``builtins:str``: the string methods).
    """
    module_name, _, only = module_name.partition(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return []
    out = [] if only else [module.__doc__ or ""]
    for name, obj in sorted(vars(module).items()):
        if only and name != only:
            continue
        if name.startswith("__") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            out.append(obj.__doc__ or "")
            for member_name, member in sorted(vars(obj).items()):
                if member_name.startswith("__") and member_name != "__init__":
                    continue
                func = getattr(member, "__func__", member)
                if inspect.isroutine(func) or isinstance(member, property):
                    out.append(func.__doc__ or "")
        elif inspect.isroutine(obj):
            out.append(obj.__doc__ or "")
    return [inspect.cleandoc(d) for d in out if isinstance(d, str) and d.strip()]


def paragraphs(doc: str) -> list[str]:
    """Blank-line separated paragraphs, whitespace collapsed; doctest/code blocks skipped."""
    result = []
    for para in re.split(r"\n\s*\n", doc):
        if para.lstrip().startswith((">>>", "...", "$ ")):
            continue
        text = " ".join(para.split())
        words = text.split()
        if len(words) < MIN_WORDS:
            continue
        result.append(" ".join(words[:MAX_WORDS]))
    return result


def collect() -> dict[str, list[str]]:
    seen: dict[str, str] = {}
    conflicts: set[str] = set()
    by_area: dict[str, list[str]] = {area: [] for area in AREAS}
    for area, modules in AREAS.items():
        for module_name in modules:
            for doc in docstrings(module_name):
                for text in paragraphs(doc):
                    if text in seen:
                        if seen[text] != area:
                            conflicts.add(text)
                        continue
                    seen[text] = area
                    by_area[area].append(text)
    return {area: [t for t in texts if t not in conflicts] for area, texts in by_area.items()}


def build() -> tuple[list[str], list[str], dict[str, tuple[int, int]]]:
    rng = random.Random(SEED)
    train: list[str] = []
    test: list[str] = []
    counts: dict[str, tuple[int, int]] = {}
    for area, texts in collect().items():
        texts = list(texts)
        rng.shuffle(texts)
        texts = texts[:CAP]
        n_test = round(len(texts) * TEST_SHARE)
        lines = [f"__label__{area} {t}" for t in texts]
        test.extend(lines[:n_test])
        train.extend(lines[n_test:])
        counts[area] = (len(texts) - n_test, n_test)
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only verify the committed files")
    args = parser.parse_args()
    train, test, counts = build()
    contents = {
        "train.txt": "".join(line + "\n" for line in train),
        "test.txt": "".join(line + "\n" for line in test),
    }
    print(f"Python {platform.python_version()}", file=sys.stderr)
    for area, (n_train, n_test) in counts.items():
        print(f"{area:12s} train {n_train:5d}  test {n_test:5d}", file=sys.stderr)
    print(f"{'total':12s} train {len(train):5d}  test {len(test):5d}", file=sys.stderr)
    if args.check:
        same = all(
            (OUT / name).is_file() and (OUT / name).read_text(encoding="utf-8") == text
            for name, text in contents.items()
        )
        print("up to date" if same else "the committed files differ", file=sys.stderr)
        return 0 if same else 1
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in contents.items():
        (OUT / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
