"""Ingest benchmark: build a synthetic 835 of N claims and time `denialkit ingest` on it,
against a raw floor on the same file.

    python benchmarks/bench_ingest.py                  # 100,000 claims, simple and rich files
    python benchmarks/bench_ingest.py --claims 400000  # memory must stay flat as files grow
    python benchmarks/bench_ingest.py --file rich      # only the rich file
    python benchmarks/bench_ingest.py --jobs 1,2,4     # -j: one file shared, and 20 rich files

Two files. ``simple``: about 3 service lines per 2 claims, one CAS on most lines, about 7
segments per claim, in one transaction (the worst case for memory). ``rich``: what real
remittances carry, 20 transactions a file, about 15 segments per claim (patient and rendering
NM1, MOA, DTM, one or two service lines each with DTM, multi-triplet CAS in two groups,
REF*6R, AMT*B6 and LQ), reversals, PLB, about 20% of claims denied.

The ingest runs as a child process (``-j 1`` for the single files); start-up (interpreter,
imports, rules: an ingest of a one-claim file) is measured apart and taken out of claims/s,
segments/s and the floor ratio; the rest is hashing, parsing, storing, denial work and the
commit. Peak memory is the child's maximum resident set size. Each file is then ingested again
with every ``--jobs`` value above 1 (one file: its transactions shared among the workers; the
JSON must be the same). The scaling run ingests 20 rich files of 10,000 claims with ``-j 1``
and ``-j 2`` (and whatever ``--jobs`` lists). The **floor** is
a plain Python program on the same file: read it, split segments and elements with the file's
delimiters, insert every segment as one row into SQLite in one transaction (GC off) — as fast
as plain Python can touch every segment once. denialkit's time is reported as a multiple of
it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from denialkit.synthetic import Adj, ClaimSpec, LineSpec, PLBSpec, RemitSpec, write_835

CARCS = [("CO", "45"), ("CO", "50"), ("CO", "97"), ("PR", "2"), ("CO", "16"), ("OA", "23")]


def stress_adjustments(i: int, j: int, charge: Decimal) -> list[Adj]:
    """CAS on 80% of lines, cycling through denials and non-denials (53% of claims denied)."""
    if (i + j) % 5 == 0:
        return []
    return [Adj(*CARCS[(i + j) % len(CARCS)], Decimal((i % 90) + 1) / 2)]


def claims(n: int, adjustments=stress_adjustments):
    """N claims of 1.5 lines on average; ``adjustments(i, j, charge)`` gives each line's CAS."""
    for i in range(n):
        lines = []
        for j in range(1 if i % 2 else 2):  # 1.5 lines per claim
            charge = Decimal(100 + (i * 7 + j) % 400)
            lines.append(
                LineSpec(
                    procedure=("99213", "97110", "J1885", "80053")[(i + j) % 4],
                    charge=charge,
                    adjustments=adjustments(i, j, charge),
                    line_control=f"{i}-{j}",
                )
            )
        yield ClaimSpec(
            patient_control=f"PCN{i:08d}",
            payer_claim_id=f"ICN{i:010d}",
            lines=lines,
            patient=("PATIENT", f"P{i % 997}", f"M{i:09d}"),
        )


PROCS = ("99213", "97110", "J1885", "80053", "99214", "36415", "85025", "90707")


def rich_adjustments(i: int, j: int, charge: Decimal) -> list[Adj]:
    """A contractual write-off and patient share on every line; about one claim in five
    denied, often with two reasons in one CAS."""
    allowed = charge * Decimal("0.6")
    adj = [Adj("CO", "45", charge - allowed), Adj("PR", "2", Decimal("10.00"))]
    if i % 5 == 0 and j == 0:
        reason = ("50", "197", "16", "97", "4")[(i // 5) % 5]
        adj += [Adj("CO", reason, allowed - Decimal("30.00")), Adj("CO", "253", Decimal("20.00"))]
    return adj


def rich_claims(start: int, n: int):
    """Claims as real remittances carry them (see the module doc); every 50th is a reversal."""
    for i in range(start, start + n):
        lines = []
        for j in range(1 + i % 2):  # 1.5 lines per claim
            charge = Decimal(120 + (i * 7 + j) % 380)
            lines.append(
                LineSpec(
                    procedure=PROCS[(i + j) % len(PROCS)],
                    charge=charge,
                    modifiers=("25",) if (i + j) % 7 == 0 else (),
                    adjustments=rich_adjustments(i, j, charge),
                    line_control=f"{i}-{j}",
                    allowed=charge * Decimal("0.6"),
                    remarks=("N115",) if i % 5 == 0 and j == 0 else ("M15",),
                )
            )
        reversal = i % 50 == 49
        if reversal:  # the payer takes back an earlier payment: every amount negated
            for ln in lines:
                ln.charge = -ln.charge
                ln.allowed = -ln.allowed if ln.allowed is not None else None
                ln.adjustments = [Adj(a.group, a.reason, -a.amount) for a in ln.adjustments]
        yield ClaimSpec(
            patient_control=f"PCN{i:08d}",
            status="22" if reversal else "1",
            payer_claim_id=f"ICN{i:010d}",
            lines=lines,
            patient=("PATIENT", f"P{i % 997}", f"M{i:09d}"),
            remarks=("MA01",),
            statement_from="20261005",
        )


def rich_remits(n: int, transactions: int = 20) -> list[RemitSpec]:
    per = -(-n // transactions)
    return [
        RemitSpec(
            claims=partial(rich_claims, t * per, min(per, n - t * per)),
            trace=f"RICH{t:04d}",
            plb=[PLBSpec("WO", Decimal("12.50"), "OVERPAY")],
        )
        for t in range(transactions)
        if t * per < n
    ]


def floor(path: Path, db: Path) -> tuple[float, int]:
    """Read, split and insert every segment as a row: (seconds, segments)."""
    gc.disable()
    try:
        t0 = time.perf_counter()
        data = path.read_bytes().decode("utf-8")
        element, terminator = data[3], data[105]
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE seg (n INTEGER, id TEXT, elements TEXT)")
        conn.execute("BEGIN")
        rows = (
            (n, parts[0], "\x1f".join(parts[1:]))
            for n, parts in enumerate(
                (s.strip().split(element) for s in data.split(terminator) if s.strip()), 1
            )
        )
        conn.executemany("INSERT INTO seg VALUES (?, ?, ?)", rows)
        segments = conn.execute("SELECT COUNT(*) FROM seg").fetchone()[0]
        conn.execute("COMMIT")
        conn.close()
        return time.perf_counter() - t0, segments
    finally:
        gc.enable()


def ingest_child(paths: list[Path], db: Path, jobs: int) -> tuple[float, float, dict]:
    """``denialkit ingest`` in a child process: (seconds, peak MB, JSON summary)."""
    cmd = [sys.executable, "-m", "denialkit", "ingest", *map(str, paths), "--db", str(db),
           "--format", "json", "--jobs", str(jobs)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    t0 = time.perf_counter()
    # This child's own peak (os.wait4), not the largest of every child so far.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"ingest failed: {stderr}")
    return seconds, usage.ru_maxrss / 1024, json.loads(stdout)


def startup(work: Path, repeat: int = 3) -> float:
    """The fixed cost of one ``ingest`` (interpreter, imports, rules, schema): the best of a
    few runs on a one-claim file. Reported apart and taken out of the throughput figures."""
    src = work / "startup.835"
    with open(src, "w") as f:
        write_835(f, [RemitSpec(claims=lambda: claims(1), trace="START")])
    best = float("inf")
    for i in range(repeat):
        db = work / f"startup{i}.db"
        best = min(best, ingest_child([src], db, 1)[0])
    for p in work.glob("startup*"):
        p.unlink()
    return best


def run(kind: str, n: int, work: Path, keep: bool, start_s: float, jobs: list[int]) -> None:
    src = work / f"{kind}.835"
    db = work / f"{kind}.db"
    t0 = time.perf_counter()
    specs = rich_remits(n) if kind == "rich" else [
        RemitSpec(claims=lambda: claims(n), trace="BENCH1")
    ]  # fmt: skip
    with open(src, "w") as f:
        write_835(f, specs)
    build_s = time.perf_counter() - t0
    size_mb = src.stat().st_size / 1e6
    seconds, peak_mb, summary = ingest_child([src], db, 1)
    # The floor runs in a child of its own: it reads the whole file into memory.
    measured = subprocess.run(
        [sys.executable, __file__, "--floor", str(src), str(work / f"{kind}-floor.db")],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    floor_s, segments = float(measured[0]), int(measured[1])
    print(f"[{kind}]")
    print(
        f"file:        {n:,} claims, {summary['service_lines']:,} service lines, "
        f"{len(specs)} transaction(s), {segments:,} segments "
        f"({segments / n:.1f} per claim), {size_mb:.1f} MB (built in {build_s:.1f} s)"
    )
    work_s = seconds - start_s
    print(
        f"ingest:      {seconds:.2f} s end to end, {work_s:.2f} s without start-up -> "
        f"{n / work_s:,.0f} claims/s, {segments / work_s:,.0f} segments/s"
    )
    print(f"floor:       {floor_s:.2f} s (split + insert every segment) -> "
          f"denialkit is {work_s / floor_s:.1f}x the floor")  # fmt: skip
    print(f"peak memory: {peak_mb:.0f} MB (max RSS of the ingest process)")
    print(
        f"stored:      {summary['claims']:,} claims, total charge {summary['total_charge']}, "
        f"denials {summary.get('denials', 0):,}, warnings {len(summary['warnings'])}"
    )
    for j in (j for j in jobs if j > 1):  # one file, its transactions shared among workers
        j_s, j_mb, j_summary = ingest_child([src], work / f"{kind}-j{j}.db", j)
        assert j_summary == summary, "-j gave another result"
        print(
            f"one file -j {j}: {j_s - start_s:.2f} s without start-up -> "
            f"{work_s / (j_s - start_s):.2f}x -j 1, peak {j_mb:.0f} MB (largest process)"
        )
    if not keep:
        for p in work.glob(f"{kind}*"):
            p.unlink()


def scaling(files: int, per_file: int, jobs: list[int], work: Path, start_s: float) -> None:
    """``ingest -j N`` on a folder of rich files: the same store, sooner."""
    folder = work / "scaling"
    folder.mkdir()
    for k in range(files):
        per = per_file // 20
        specs = [
            RemitSpec(
                claims=partial(rich_claims, k * per_file + t * per, per),
                trace=f"F{k:03d}T{t:02d}",
                plb=[PLBSpec("WO", Decimal("12.50"), "OVERPAY")],
            )
            for t in range(20)
        ]
        with open(folder / f"f{k:03d}.835", "w") as f:
            write_835(f, specs)
    paths = sorted(folder.iterdir())
    n = files * per_file
    print(f"[scaling] {files} rich files of {per_file:,} claims ({os.cpu_count()} cores)")
    base = None
    for j in jobs:
        db = work / f"scaling-j{j}.db"
        seconds, peak_mb, summary = ingest_child(paths, db, j)
        assert summary["claims"] == n, summary["claims"]
        work_s = seconds - start_s
        base = base or work_s
        print(
            f"-j {j}:        {seconds:.2f} s end to end, {work_s:.2f} s without start-up -> "
            f"{n / work_s:,.0f} claims/s, {base / work_s:.2f}x -j {jobs[0]}, "
            f"peak {peak_mb:.0f} MB (largest of its processes)"
        )
        for p in work.glob(f"scaling-j{j}.db*"):
            p.unlink()
    for p in paths:
        p.unlink()
    folder.rmdir()


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--floor":  # the floor, in a child process
        seconds, segments = floor(Path(sys.argv[2]), Path(sys.argv[3]))
        print(seconds, segments)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=100_000)
    ap.add_argument("--file", choices=("simple", "rich", "both"), default="both")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and dbs")
    ap.add_argument("--jobs", default="1,2", help="-j values for the scaling run ('' skips it)")
    ap.add_argument("--scaling-files", type=int, default=20)
    ap.add_argument("--scaling-claims", type=int, default=10_000, help="claims per file")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="denialkit-bench-"))
    start_s = startup(work)
    print(f"start-up:    {start_s:.2f} s (best of 3 ingests of a one-claim file; taken out below)")
    jobs = [int(j) for j in args.jobs.split(",")] if args.jobs else []
    for kind in ("simple", "rich") if args.file == "both" else (args.file,):
        run(kind, args.claims, work, args.keep, start_s, jobs)
    if jobs:
        scaling(args.scaling_files, args.scaling_claims, jobs, work, start_s)
    if args.keep:
        print(f"kept:        {work}")
    else:
        work.rmdir()


if __name__ == "__main__":
    main()
