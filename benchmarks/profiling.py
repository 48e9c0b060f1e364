"""Sampling the daemon with py-spy while it is under load, and summarising the samples.

py-spy is not a dependency of the project: give its path with `--py-spy PATH`
(or put it on PATH), e.g. `python3 -m venv /tmp/venv-prof &&
/tmp/venv-prof/bin/pip install py-spy`. It samples every thread of the
running daemon (the trio loop and the database thread) without stopping it.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Hotspot:
    function: str
    self_pct: float
    total_pct: float


@dataclass
class Profile:
    label: str
    samples: int
    seconds: float
    rate: int
    by_self: list[Hotspot] = field(default_factory=list)
    by_total: list[Hotspot] = field(default_factory=list)
    threads: dict[str, float] = field(default_factory=dict)  # thread -> share of samples

    @property
    def busy_pct(self) -> float:
        """Samples with some thread running, as a share of the possible samples."""
        possible = self.seconds * self.rate
        return 100.0 * self.samples / possible if possible else 0.0


class PySpy:
    def __init__(self, executable: str, pid: int, seconds: float, output: Path, label: str) -> None:
        self.output = output
        self.label = label
        self.seconds = seconds
        self.rate = 200
        self.process = subprocess.Popen(  # noqa: S603 - a path the user gave
            [
                executable,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(self.rate),
                "--duration",
                str(max(1, round(seconds))),
                "--format",
                "raw",
                "--nolineno",
                "--nonblocking",
                "--threads",
                "--output",
                str(output),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def finish(self, timeout: float = 30.0) -> Profile | str:
        """The summary, or why there is none."""
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return "py-spy did not finish in time"
        if not self.output.exists():
            return f"py-spy wrote nothing: {err.decode(errors='replace').strip()[-500:]}"
        return summarise(self.output, self.label, self.seconds, self.rate)


def summarise(path: Path, label: str, seconds: float, rate: int, top: int = 15) -> Profile:
    """Self and inclusive shares per function from py-spy's raw (collapsed) output."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    thread_counts: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # With --threads the first frame names the thread; then the process line.
        thread = next((f for f in frames[:2] if f.startswith("thread ")), "thread ?")
        functions = [f for f in frames if not f.startswith(("thread ", "process "))]
        if not functions:
            continue
        samples += count
        thread_counts[_thread_label(thread, functions)] += count
        self_counts[functions[-1]] += count
        for function in set(functions):
            total_counts[function] += count
    profile = Profile(label=label, samples=samples, seconds=seconds, rate=rate)
    if samples:
        profile.by_self = [
            Hotspot(f, 100.0 * c / samples, 100.0 * total_counts[f] / samples)
            for f, c in self_counts.most_common(top)
        ]
        profile.by_total = [
            Hotspot(f, 100.0 * self_counts[f] / samples, 100.0 * c / samples)
            for f, c in total_counts.most_common()
            if not _generic(f)
        ][:top]
        profile.threads = {t: 100.0 * c / samples for t, c in thread_counts.most_common()}
    return profile


GENERIC_FRAMES = (
    "(click/",
    "<frozen runpy>",
    "(threading.py)",
    "(pairwise_ws/__main__.py)",
    "main (pairwise_ws/cli.py)",
    "run_daemon (pairwise_ws/cli.py)",
    "serve_command (pairwise_ws/cli.py)",
    "run (trio/_core/_run.py)",
    "unrolled_run (trio/_core/_run.py)",
    "(trio/_core/_thread_cache.py)",
    "capture (outcome/_impl.py)",
)


def _generic(function: str) -> bool:
    """Frames every sample of a thread goes through: they say nothing."""
    return any(marker in function for marker in GENERIC_FRAMES)


def _thread_label(thread: str, functions: list[str]) -> str:
    name = thread.partition(": ")[2] or thread
    if name == "MainThread":
        return "main thread (trio loop)"
    if name.startswith("Trio thread") or any("_thread_cache" in f for f in functions[:6]):
        return "trio worker threads (database)"
    return name
