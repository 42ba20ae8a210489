"""Fuzz the path from raw bytes to the reading pane's HTML, for a bounded time.

    .venv/bin/python bench/fuzz.py [--seconds 300] [--json] [--keep DIR]

Atheris (coverage-guided, libFuzzer's engine) mutates messages seeded from shared/corpus
(mime-fuzz, realworld) and feeds each to mailbox.testing.reading_path.render: the header fields,
the part tree, the bodies decoded, the text made HTML, the HTML sanitized, the preview line, the
attachments' names and sizes. A failure is an uncaught exception or an input that takes over a
second (libFuzzer's -timeout=1); each is copied to --keep (default tests/mailbox/fuzz_finds/)
so that tests/mailbox/test_fuzz_finds.py replays it from then on.

Atheris is not among the test dependencies: ``.venv/bin/python -m pip install -e '.[fuzz]'``.
The fuzzing runs in a child process (libFuzzer stops at the first failure, and this script then
starts it again from the corpus grown so far until the time is spent).
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
FINDS = ROOT / "tests" / "mailbox" / "fuzz_finds"
MAX_LEN = 256 * 1024  # bytes of one input: large enough for nested parts, small enough to mutate
STATS = re.compile(r"#(\d+)\s+(?:DONE|pulse|NEW|REDUCE|INITED)\b.*?corp: (\d+)/")


def child(corpus_dir, artifacts, seconds):
    """The fuzzing loop itself (run with --child): instrument our modules, then hand over to
    libFuzzer, which exits the process at the first failure or when the time is spent."""
    import atheris

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["mailbox"]):
        from mailbox.testing.reading_path import render

    def one_input(data):
        render(data)

    atheris.Setup(
        [sys.argv[0], f"-max_total_time={seconds}", "-timeout=1", f"-max_len={MAX_LEN}",
         "-rss_limit_mb=3072", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
         str(corpus_dir)],
        one_input,
    )  # fmt: skip
    atheris.Fuzz()


def seed(corpus_dir):
    count = 0
    for folder in ("mime-fuzz", "realworld"):
        for path in sorted((CORPUS / folder).glob("*.eml")):
            shutil.copy(path, corpus_dir / f"{folder}-{path.name}")
            count += 1
    return count


def run(seconds, keep):
    """Fuzz for ``seconds``; returns the figures and copies failures into ``keep``."""
    work = Path(tempfile.mkdtemp(prefix="webmail-fuzz-"))
    corpus_dir, artifacts = work / "corpus", work / "artifacts"
    corpus_dir.mkdir()
    artifacts.mkdir()
    seeds = seed(corpus_dir)
    started, runs, executions, failures = time.monotonic(), 0, 0, []
    while (left := seconds - (time.monotonic() - started)) > 1:
        runs += 1
        before = set(artifacts.iterdir())
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(corpus_dir), str(artifacts), str(int(left))],
            capture_output=True, text=True, errors="replace", check=False,
        )  # fmt: skip
        executions += max((int(m.group(1)) for m in STATS.finditer(done.stderr)), default=0)
        new = sorted(set(artifacts.iterdir()) - before)
        failures += new
        if done.returncode and not new:  # libFuzzer itself failed: say why, do not loop
            sys.stderr.write(done.stderr[-3000:])
            break
    keep.mkdir(parents=True, exist_ok=True)
    kept = []
    for path in failures:
        target = keep / f"{path.name}.eml"
        shutil.copy(path, target)
        kept.append(str(target.relative_to(ROOT)) if target.is_relative_to(ROOT) else str(target))
    figures = {
        "seconds": round(time.monotonic() - started),
        "seed_inputs": seeds,
        "executions": executions,
        "corpus_after": len(list(corpus_dir.iterdir())),
        "restarts": runs - 1,
        "failures": len(failures),
        "crashes": sum(1 for p in failures if p.name.startswith("crash-")),
        "slow_inputs": sum(1 for p in failures if p.name.startswith(("timeout-", "slow-unit-"))),
        "out_of_memory": sum(1 for p in failures if p.name.startswith("oom-")),
        "kept": kept,
    }
    shutil.rmtree(work, ignore_errors=True)
    return figures


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--keep", type=Path, default=FINDS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        import atheris  # noqa: F401
    except ImportError:
        sys.exit("Atheris is missing: .venv/bin/python -m pip install -e '.[fuzz]'")
    figures = run(args.seconds, args.keep)
    print(f"{'fuzzing time':<28}{figures['seconds']:>10} s")
    for key in ("seed_inputs", "executions", "corpus_after", "restarts", "crashes",
                "slow_inputs", "out_of_memory"):  # fmt: skip
        print(f"{key.replace('_', ' '):<28}{figures[key]:>10}")
    for path in figures["kept"]:
        print(f"kept {path}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
