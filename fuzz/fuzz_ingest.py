"""Coverage-guided fuzzing of intake with atheris (by hand; not part of CI).

    pip install atheris            # into the project's virtual environment
    python fuzz/fuzz_ingest.py -atheris_runs=200000 fuzz/corpus
    python fuzz/fuzz_ingest.py --random 20000   # without atheris: seeded random mutations

Each input goes through the tokenizer, the 835 parser and ``ingest_file`` on one in-memory
store; the property is that of ``tests/test_fuzz.py`` (``tests/mutations.check_one``): stored
whole, or a clear ``DenialkitError`` with nothing stored, never another exception. Half of the
inputs are atheris' raw bytes, half are our mutations of valid 835 files driven by its bytes,
so the fuzzer starts from deep inside the format.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.mutations import OPERATIONS, apply, check_one, random_steps, seeds  # noqa: E402

from denialkit.store import Store  # noqa: E402

SEEDS = seeds()
STORE = Store.memory()
WORK = Path(tempfile.mkdtemp(prefix="denialkit-fuzz-")) / "input.835"


def one_input(data: bytes) -> None:
    if data[:1] == b"\x00" or len(data) < 8:
        check_one(data[1:], STORE, WORK)
        return
    seed = SEEDS[data[1] % len(SEEDS)]
    steps = []
    for i in range(2, len(data) - 5, 6):
        chunk = data[i : i + 6]
        steps.append(
            (
                OPERATIONS[chunk[0] % len(OPERATIONS)],
                int.from_bytes(chunk[1:4], "little"),
                int.from_bytes(chunk[4:6], "little"),
            )
        )
    check_one(apply(seed, steps[:12]), STORE, WORK)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--random":
        rng = random.Random(11)
        for n in range(int(sys.argv[2])):
            check_one(apply(rng.choice(SEEDS), random_steps(rng, rng.randint(1, 10))), STORE, WORK)
            if n % 1000 == 0:
                print(f"{n} inputs", file=sys.stderr)
        return
    import atheris  # not a dependency: pip install atheris

    for seed in SEEDS:  # the seeds must pass, or every finding is noise
        check_one(seed.encode(), Store.memory(), WORK)
    atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
