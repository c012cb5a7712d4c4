"""Fuzz: mutated 835 files through the tokenizer, the parser and intake. Every input ends
stored (whole) or as a clear ``DenialkitError`` (nothing stored), never another exception.

A few thousand cases run in the suite; ``fuzz/fuzz_ingest.py`` (atheris) runs by hand for
longer. The seeds and mutations are in ``tests/mutations.py``.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from denialkit.era import parse_835
from denialkit.errors import DenialkitError
from denialkit.intake import ingest_paths
from denialkit.store import Store
from denialkit.x12 import SegmentReader

from .mutations import NASTY_VALUES, OPERATIONS, apply, check_one, seeds

pytestmark = pytest.mark.slow  # hypothesis: thousands of mutated files

SEEDS = seeds()
step = st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 1 << 20), st.integers(0, 1 << 16))
mutated = st.builds(apply, st.sampled_from(SEEDS), st.lists(step, min_size=1, max_size=6))
STORE = Store.memory()  # shared: each case compares row counts before and after


def test_seeds_are_valid(tmp_path):
    for i, text in enumerate(SEEDS):
        assert check_one(text.encode(), Store.memory(), tmp_path / f"seed{i}.835") == "ingested"


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated)
def test_tokenizer_and_parser_answer_data_or_a_denialkit_error(data):
    try:
        with SegmentReader(io.BytesIO(data), "fuzz.835") as reader:
            for _ in reader:
                pass
    except DenialkitError:
        pass
    try:
        for _ in parse_835(io.BytesIO(data), "fuzz.835"):
            pass
    except DenialkitError:
        pass


@settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated)
def test_ingest_stores_whole_files_or_nothing(tmp_path_factory, data):
    check_one(data, STORE, tmp_path_factory.getbasetemp() / "fuzz.835")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=400), st.sampled_from(NASTY_VALUES))
def test_arbitrary_bytes_after_an_isa(tmp_path_factory, tail, nasty):
    head = SEEDS[0].split("GS*")[0].encode()
    check_one(head + tail + nasty.encode(), STORE, tmp_path_factory.getbasetemp() / "raw.835")


def test_ingest_paths_goes_on_after_every_kind_of_damage(tmp_path):
    files = []
    for i in range(len(NASTY_VALUES)):
        p = tmp_path / f"n{i:02d}.835"
        p.write_bytes(apply(SEEDS[1], [("nasty", 30 + i, i)]))
        files.append(p)
    report = ingest_paths(Store.memory(), files)
    assert len(report.files) == len(files)
    assert all(f.status != "failed" or "unexpected" not in f.error.message for f in report.files)
