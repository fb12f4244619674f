"""What every benchmark shares: model options and settings, memory readings, percentiles, JSON."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from msrag.settings import Settings
from retrieval.ingest.offline import assemble_offline_models

DEFAULT_MODELS_DIR = Path.home() / ".cache" / "msrag" / "test-models"
RESULTS = Path("bench/results")


def add_model_options(ap: argparse.ArgumentParser) -> None:
    """`--offline` / `--models-dir`: the offline MiniLM/BM25 pack instead of configured models."""
    ap.add_argument("--offline", action="store_true", help="use the offline MiniLM/BM25 models")
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)


def settings_from(args: argparse.Namespace, **update: Any) -> Settings:
    """`Settings()` from the environment and `.env`, with the offline models if asked for."""
    values: dict[str, Any] = {}
    if getattr(args, "offline", False):
        values |= assemble_offline_models(args.models_dir).settings_values()
    values |= update
    return Settings().model_copy(update=values)


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_parts_mb() -> dict[str, float]:
    """RSS split as the kernel counts it: anonymous memory (the process's own heap, arenas,
    in-RAM vectors) and file-backed pages (memory-mapped files such as on-disk vectors: page
    cache the kernel can drop and read again)."""
    parts = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
            name, value = line.split(":")
            parts[f"{name.lower()}_mb"] = int(value.split()[0]) / 1024
    return parts


def peak_rss_mb() -> float:
    """The highest resident memory this process has reached, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of a list of timings."""
    return {
        "p50": pct(values, 50),
        "p95": pct(values, 95),
        "mean": statistics.fmean(values) if len(values) else float("nan"),
    }


def paired_bootstrap(
    ours: Sequence[float],
    theirs: Sequence[float],
    *,
    resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, float]:
    """Mean of `ours - theirs` (paired per query) with its 95% bootstrap interval.

    Queries are resampled with replacement (the percentile method, as in Sakai's IR
    significance-testing practice); `p_le_0` is the share of resamples whose mean is ≤ 0.
    """
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError("paired_bootstrap needs two equally long, non-empty score lists.")
    diff = a - b
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "mean": float(diff.mean()),
        "ci95_low": float(low),
        "ci95_high": float(high),
        "p_le_0": float((means <= 0).mean()),
        "queries": len(diff),
    }


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))


def run_child(module: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `python -m module args…` in a fresh process; its last stdout line is its JSON result.

    Memory figures need a process of their own: a peak RSS never comes down, and one
    measurement's arena or page cache must not count in the next.
    """
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_questions(dataset: Path, limit: int, split: str = "test") -> list[str]:
    """The first `limit` judged questions of a BEIR folder, in file order (as `load_beir`).

    Read directly so that a serving process's memory is not inflated by the evaluation
    stack (`retrieval.ingest.evaluate` imports ranx/numba: ~190 MB that `msrag ui` never loads).
    """
    judged = {
        line.split("\t")[0]
        for line in (dataset / "qrels" / f"{split}.tsv").read_text().splitlines()
    }
    questions = []
    with (dataset / "queries.jsonl").open() as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if str(row["_id"]) in judged:
                    questions.append(row["text"])
    return questions[:limit]
