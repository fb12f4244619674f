"""The default models' code path — fastembed loading by name — run with no hub, on stand-ins.

`tests/defaults/hub_standins.py` puts models with the default names, file names, ONNX signatures and
dimensions into a fastembed cache; here the product runs on them with default settings (no model
directories configured) and `HF_HUB_OFFLINE=1`. The stand-ins prove the plumbing, not quality.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from fastembed.late_interaction.colbert import Colbert
from streamlit.testing.v1 import AppTest

from msrag.settings import Settings
from retrieval.alignment import align, maxsim
from retrieval.encoders import Encoders
from retrieval.errors import ModelUnavailableError
from retrieval.settings import (
    DEFAULT_COLBERT_MODEL,
    DEFAULT_DENSE_MODEL,
    DEFAULT_SPARSE_MODEL,
)
from tests.conftest import DEMO_DOCS
from tests.defaults.conftest import offline_env
from tests.defaults.hub_standins import COLBERT_OUTPUT, registry
from tests.ui.conftest import APP

QUESTION = "When was Ada Lovelace born?"
BIRTH = "Ada Lovelace was born on 10 December 1815 in London."
MSRAG = Path(sys.executable).with_name("msrag")


def default_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings as a fresh install has them: only the data folder is chosen, no `.env`."""
    return Settings(_env_file=None, data_dir=data_dir, **overrides)  # type: ignore[call-arg]


def _snapshot_file(cache: Path, repo: str, name: str) -> Path:
    folder = cache / ("models--" + repo.replace("/", "--"))
    commit = (folder / "refs" / "main").read_text()
    return folder / "snapshots" / commit / name


class TestStandIns:
    def test_each_default_name_has_the_registry_file_signature_and_dimension(
        self, hub_cache: Path
    ) -> None:
        described = registry()
        assert set(described) == {DEFAULT_DENSE_MODEL, DEFAULT_SPARSE_MODEL, DEFAULT_COLBERT_MODEL}
        expected = {
            DEFAULT_DENSE_MODEL: (
                {"input_ids", "attention_mask", "token_type_ids"},
                "last_hidden_state",
                384,
            ),
            DEFAULT_COLBERT_MODEL: ({"input_ids", "attention_mask"}, COLBERT_OUTPUT, 96),
        }
        for name, (inputs, output, width) in expected.items():
            model = described[name]
            session = ort.InferenceSession(
                str(_snapshot_file(hub_cache, model.repo, model.model_file))
            )
            assert {i.name for i in session.get_inputs()} == inputs
            assert [o.name for o in session.get_outputs()] == [output]
            feed = {i: np.array([[101, 7592, 102]], dtype=np.int64) for i in inputs}
            feed["attention_mask"] = np.ones((1, 3), dtype=np.int64)
            if "token_type_ids" in feed:
                feed["token_type_ids"] = np.zeros((1, 3), dtype=np.int64)
            assert session.run(None, feed)[0].shape == (1, 3, width) and model.dim == width

    def test_bm25_snapshot_holds_every_listed_file_and_the_english_stopwords(
        self, hub_cache: Path
    ) -> None:
        bm25 = registry()[DEFAULT_SPARSE_MODEL]
        for name in (bm25.model_file, *bm25.additional_files):
            assert _snapshot_file(hub_cache, bm25.repo, name).is_file()
        english = _snapshot_file(hub_cache, bm25.repo, "english.txt").read_text().split()
        assert {"the", "was", "when"} <= set(english)


class TestLoadingByName:
    def test_default_names_load_from_the_cache_through_fastembed(
        self, default_models: Path, tmp_path: Path
    ) -> None:
        encoders = Encoders(default_settings(tmp_path / "data"))
        assert encoders.model_ids == {
            "dense": DEFAULT_DENSE_MODEL,
            "bm25": DEFAULT_SPARSE_MODEL,
            "colbert": DEFAULT_COLBERT_MODEL,
        }
        assert (encoders.dense_dim, encoders.colbert_dim) == (384, 96)
        # fastembed's own ColBERT class, not our local token-vector path
        assert encoders._tokens is None and type(encoders._late.model) is Colbert
        assert not encoders.shared_backbone

    def test_an_empty_cache_offline_is_one_sentence_and_never_a_download(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name, value in offline_env(tmp_path / "empty-cache").items():
            monkeypatch.setenv(name, value)
        with pytest.raises(ModelUnavailableError, match="msrag models offline"):
            Encoders(default_settings(tmp_path / "data"))


@pytest.fixture(scope="module")
def named_encoders(hub_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Encoders:
    """The default encoders by name, storing full (unpooled) token vectors."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in offline_env(hub_cache).items():
            mp.setenv(name, value)
        return Encoders(default_settings(tmp_path_factory.mktemp("markers"), pool_factor=1))


class TestMarkersAndQueryExpansion:
    def test_query_is_expanded_with_mask_to_32_tokens_behind_the_query_marker(
        self, named_encoders: Encoders
    ) -> None:
        encoders = named_encoders
        model = encoders._late.model
        query = encoders.encode_query(QUESTION).colbert
        assert query.shape == (Colbert.MIN_QUERY_LENGTH + 1, 96)
        np.testing.assert_allclose(np.linalg.norm(query, axis=1), 1.0, rtol=1e-5)
        # the same input fastembed sends: [CLS] [Q] tokens… [SEP] [MASK]…
        ids = model._preprocess_onnx_input(
            {
                "input_ids": np.array([model.query_tokenizer.encode(QUESTION).ids]),
                "attention_mask": np.ones((1, 31), dtype=np.int64),
            },
            is_doc=False,
        )["input_ids"][0]
        assert ids[1] == Colbert.QUERY_MARKER_TOKEN_ID and ids[-1] == model.mask_token_id

    def test_document_vectors_carry_the_document_marker_and_drop_punctuation(
        self, named_encoders: Encoders
    ) -> None:
        encoders = named_encoders
        model = encoders._late.model
        text = "Ada, Lovelace; born."
        tokens = model.tokenizer.encode(text).tokens  # [CLS] ada , love ##lace ; born . [SEP]
        kept = [t for t in tokens if t not in {",", ";", "."}]
        vectors = encoders.encode_documents([text])[0].colbert
        assert vectors.shape == (len(kept) + 1, 96)  # + the [D] marker

    def test_alignment_names_the_marker_and_mask_tokens_and_sums_to_maxsim(
        self, named_encoders: Encoders
    ) -> None:
        encoders = named_encoders
        matches = align(encoders, QUESTION, BIRTH)
        names = [m.query_token for m in matches]
        assert names[:2] == ["[CLS]", "[Q]"] and names.count("[MASK]") >= 20
        born = next(m for m in matches if m.query_token == "born")
        assert BIRTH[born.start : born.end] == "born"
        query = encoders.encode_query(QUESTION, dense=False, sparse=False).colbert
        passage = encoders.encode_documents([BIRTH])[0].colbert
        assert sum(m.score for m in matches) == pytest.approx(maxsim(query, passage), rel=1e-4)


def _msrag(cwd: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    ours = ("MSRAG_", "OPENAI_", "QDRANT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update(offline_env(cache))
    return subprocess.run(
        [str(MSRAG), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_ingest_search_status_ask_with_default_settings(hub_cache: Path, tmp_path: Path) -> None:
    """A fresh project folder (no .env, default ./.msrag): what a user with internet runs."""
    shutil.copytree(DEMO_DOCS, tmp_path / "docs")
    ingest = _msrag(tmp_path, hub_cache, "ingest", "docs")
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert (tmp_path / ".msrag").is_dir()

    status = _msrag(tmp_path, hub_cache, "status")
    assert status.returncode == 0, status.stderr
    for name in (DEFAULT_DENSE_MODEL, DEFAULT_SPARSE_MODEL, DEFAULT_COLBERT_MODEL):
        assert name in status.stdout
    assert re.search(r"\b96\b", status.stdout) and re.search(r"\b384\b", status.stdout)

    search = _msrag(tmp_path, hub_cache, "search", QUESTION, "--json")
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)
    assert hits and any(h["source"].endswith("ada_lovelace.md") for h in hits)

    ask = _msrag(tmp_path, hub_cache, "ask", QUESTION)
    assert ask.returncode == 0, ask.stderr
    assert re.search(r"\[\d\]", ask.stdout) and "ada_lovelace.md" in ask.stdout


@pytest.mark.slow
def test_the_pages_alignment_view_with_default_models(
    hub_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The browser chat on the default names: the 'Why this passage' view lists the query marker
    [Q] and the [MASK] expansion tokens in its table but never shades passage text for them."""
    monkeypatch.chdir(tmp_path)
    for name, value in offline_env(hub_cache).items():
        monkeypatch.setenv(name, value)
    shutil.copytree(DEMO_DOCS, tmp_path / "docs")
    assert _msrag(tmp_path, hub_cache, "ingest", "docs").returncode == 0

    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception, [e.value for e in at.exception]
    answer = at.session_state["messages"][-1]["answer"]
    cited = next(s for s in answer.sources if "ada_lovelace" in s.source)
    toggle = next(t for t in at.toggle if t.key == f"why-1-{cited.number}-c")
    toggle.set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]

    table = at.dataframe[0].value
    tokens = list(table["query token"])
    assert tokens[1] == "[Q]" and "[MASK]" in tokens
    heat = next(m.value for m in at.markdown if "msrag-why" in m.value)
    shaded = re.findall(r'title="([^"]*) · [0-9.]+"', heat)
    assert shaded and not {"[MASK]", "[Q]", "[CLS]", "[SEP]"} & set(shaded)
    assert "born" in shaded
