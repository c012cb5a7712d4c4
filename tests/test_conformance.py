"""Every real-world sample 835 in ../shared/corpus835 parses and matches the manifest's
independent counts and sums exactly; negative fixtures are read with warnings or rejected
cleanly. Skipped when the shared folder is absent."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from denialkit.era import EraStream, parse_835
from denialkit.errors import X12Error
from denialkit.intake import ingest_file
from denialkit.store import Store

from .conftest import SHARED

CORPUS = SHARED / "corpus835"
BAD = SHARED / "corpus835-bad"


def manifest(folder: Path) -> list[dict[str, str]]:
    if not (folder / "MANIFEST.tsv").exists():
        return []
    with open(folder / "MANIFEST.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _malformed(row: dict[str, str]) -> bool:
    # The manifest marks the two files whose money fields hold template placeholders.
    return "placeholder" in row["note"].lower()


pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus835 not present")


@pytest.mark.parametrize("row", manifest(CORPUS), ids=lambda r: r["rel_path"][-50:])
def test_corpus_file_matches_manifest(row):
    path = CORPUS / row["rel_path"]
    if _malformed(row):
        with pytest.raises(X12Error) as exc:
            list(parse_835(path))
        assert str(exc.value).startswith(str(path)) and "segment" in str(exc.value)
        assert "(CAS)" in str(exc.value)
        return
    remits = list(parse_835(path))
    claims = [c for r in remits for c in r.claims]
    lines = [ln for c in claims for ln in c.lines]
    assert len(remits) == int(row["st835_count"])
    assert len(claims) == int(row["clp_count"])
    assert len(lines) == int(row["svc_count"])
    assert sum((c.charge for c in claims), Decimal(0)) == Decimal(row["sum_clp03"])
    assert sum((c.paid for c in claims), Decimal(0)) == Decimal(row["sum_clp04"])
    adjustments = [a for c in claims for a in c.adjustments] + [
        a for ln in lines for a in ln.adjustments
    ]
    for g in ("CO", "PR", "OA", "PI", "CR"):
        got = sum((a.amount for a in adjustments if a.group == g), Decimal(0))
        assert got == Decimal(row[f"cas_sum_{g}"]), g
    plb = sum((p.amount for r in remits for p in r.provider_adjustments), Decimal(0))
    assert plb == Decimal(row["plb_sum"])
    counts: dict[str, int] = {}
    for c in claims:
        counts[c.status] = counts.get(c.status, 0) + 1
    assert ";".join(f"{k}={v}" for k, v in sorted(counts.items())) == row["clp02_values"]


@pytest.mark.parametrize(
    "row",
    [r for r in manifest(CORPUS) if r["se_count_mismatches"]],
    ids=lambda r: r["rel_path"][-50:],
)
def test_corpus_se_count_mismatches_are_warned(row):
    stream = EraStream(CORPUS / row["rel_path"])
    try:
        list(stream)
    except X12Error:
        assert _malformed(row)
        return
    assert any(w.message.startswith("SE01 says") for w in stream.warnings)


@pytest.mark.parametrize("row", manifest(BAD), ids=lambda r: r["rel_path"][-50:])
def test_negative_fixtures_are_read_with_warnings_or_rejected_cleanly(row, tmp_path):
    path = BAD / row["rel_path"]
    store = Store(tmp_path / "bad.db")
    result = ingest_file(store, path)
    if result.status == "failed":
        assert result.error is not None and result.error.file == str(path)
        assert store.count("files") == 0 and store.count("claims") == 0
    else:
        assert result.status == "ingested" and result.warnings
        assert store.count("claims") == int(row["clp_count"])
    store.close()


def test_whole_corpus_ingests_into_one_store(tmp_path):
    store = Store(tmp_path / "corpus.db")
    results = [ingest_file(store, CORPUS / r["rel_path"]) for r in manifest(CORPUS)]
    failed = {Path(r.path).name for r in results if r.status == "failed"}
    assert failed == {Path(r["rel_path"]).name for r in manifest(CORPUS) if _malformed(r)}
    # Several TR3 examples are shipped by two projects with the same payer, TRN02 and BPR02,
    # but edited (other CLP07, address, amount formats): by content they are different
    # remittances, so every claim is stored, each such file with a warning.
    assert all(
        r.status in ("ingested", "duplicate") for r in results if Path(r.path).name not in failed
    )
    stored = store.totals()
    assert stored["claims"] == sum(r.totals.claims for r in results)
    assert stored["claims"] == sum(
        int(r["clp_count"]) for r in manifest(CORPUS) if not _malformed(r)
    )
    store.close()


def test_corpus_transaction_digests_read_plainly_equal_the_definition():
    """Real files, real layouts: the block-wise digest hashes what the segment-by-segment one
    does, and takes most of them (the ones it declines have white space at element edges)."""
    from denialkit.intake import _plain_digests, _segment_digests

    taken = 0
    rows = [r for r in manifest(CORPUS) if not _malformed(r)]
    for row in rows:
        path = CORPUS / row["rel_path"]
        plain = _plain_digests(path, row["rel_path"], chunk_size=512)
        if plain is not None:
            taken += 1
            assert plain == _segment_digests(path, row["rel_path"]), row["rel_path"]
    assert taken >= len(rows) * 3 // 4
