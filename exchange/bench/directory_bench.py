"""Directory search latency on a 10,000-entry directory."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import replace
from datetime import timedelta

from ..core.directory import KINDS, Directory
from ..core.directory_search import DirectoryIndex
from .primitives import NOW, bench_authority
from .un_members import UN_MEMBERS

LANGUAGES = ("en", "fr", "es", "ar", "ru", "zh", "pt", "de", "it", "sw")
WORDS = (
    "police",
    "prosecution",
    "border",
    "migration",
    "trafficking",
    "smuggling",
    "unit",
    "national",
    "central",
    "directorate",
    "office",
    "justice",
    "ministry",
    "crime",
)


def build(n: int, rng: random.Random) -> Directory:
    template, _, _ = bench_authority("XX-TEMPLATE")
    entries = []
    for i in range(n):
        country = UN_MEMBERS[i % len(UN_MEMBERS)]
        entries.append(
            replace(
                template,
                authority_id=f"{country}-A{i:05d}",
                country=country,
                name=" ".join(rng.sample(WORDS, 4)).title() + f" {i}",
                kind=KINDS[i % len(KINDS)],
                languages=tuple(rng.sample(LANGUAGES, 2)),
            )
        )
    return Directory(1, NOW, NOW + timedelta(days=1), tuple(entries))


def run(n: int = 10_000, queries: int = 300) -> dict[str, float]:
    rng = random.Random(7)
    directory = build(n, rng)
    started = time.perf_counter()
    index = DirectoryIndex(directory)
    index_ms = (time.perf_counter() - started) * 1000
    timings = []
    for i in range(queries):
        kind = i % 4
        started = time.perf_counter()
        if kind == 0:
            index.search(" ".join(rng.sample(WORDS, 2)))
        elif kind == 1:
            index.search(country=rng.choice(UN_MEMBERS), language=rng.choice(LANGUAGES))
        elif kind == 2:
            index.search(rng.choice(WORDS), kind=rng.choice(KINDS), language=rng.choice(LANGUAGES))
        else:
            index.search("zzz-no-match")  # a full scan that finds nothing: the worst case
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "directory_entries": n,
        "directory_index_build_ms": index_ms,
        "directory_search_ms": statistics.median(timings),
        "directory_search_p99_ms": timings[int(len(timings) * 0.99) - 1],
        "directory_search_max_ms": timings[-1],
    }
