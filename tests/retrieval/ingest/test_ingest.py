"""Ingest with the real offline encoders and the real embedded Qdrant engine (qdrant-edge).

Idempotent re-runs, changed files, pruning, bad files, and a run killed with SIGKILL that resumes
to exactly the state of a clean run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msrag.settings import Settings
from retrieval.encoders import Encoders
from retrieval.ingest.chunking import chunk_document
from retrieval.ingest.loaders import load
from retrieval.ingest.pipeline import IngestReport, ingest, ingest_chunks
from retrieval.stores import Store, open_store
from retrieval.types import PAYLOAD_FIELDS, Filter, QueryPlan
from tests.conftest import DEMO_DOCS, REPO, make_settings
from tests.retrieval.ingest.helpers import CHILD

Snapshot = dict[str, dict[str, Any]]


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the demo corpus; cwd is its parent, so sources read `docs/…`."""
    shutil.copytree(DEMO_DOCS, tmp_path / "docs")
    monkeypatch.chdir(tmp_path)
    return Path("docs")


@pytest.fixture
def store(settings: Settings, encoders: Encoders) -> Iterator[Store]:
    s = open_store(settings, encoders.layout(settings))
    yield s
    s.close()


def snapshot(store: Store) -> Snapshot:
    return {pid: payload for pid, payload in store.scroll_payloads(list(PAYLOAD_FIELDS))}


def statuses(report: IngestReport) -> dict[str, str]:
    return {r.path: r.status for r in report.files}


def expected_chunks(path: Path, settings: Settings) -> int:
    return len(chunk_document(load(path), settings.chunk_tokens, settings.chunk_overlap))


class TestIngestDemoCorpus:
    def test_first_run_stores_every_chunk_and_a_rerun_changes_nothing(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        first = ingest([docs], settings, store, encoders, progress=False)
        files = sorted(p for p in docs.iterdir())
        assert first.ok and first.counts()["ingested"] == len(files) == len(first.files)
        expected = {p.as_posix(): expected_chunks(p, settings) for p in files}
        assert {r.path: r.chunks for r in first.files} == expected
        assert store.count() == first.chunks_written == sum(expected.values())
        assert first.chunks_per_s > 0 and first.docs_per_s > 0
        before = snapshot(store)
        for payload in before.values():  # every point carries its citation fields
            assert payload["source"] in expected and payload["text"]
            assert payload["chunk_count"] == expected[payload["source"]]
        pdf = [p for p in before.values() if p["source"].endswith(".pdf")]
        assert {p["page"] for p in pdf} == {1, 2}

        second = ingest([docs], settings, store, encoders, progress=False)
        assert second.ok and set(statuses(second).values()) == {"unchanged"}
        assert second.chunks_written == 0
        assert snapshot(store) == before
        assert "0 ingested (0 chunks), 8 unchanged" in second.summary()

    def test_ingested_text_is_found_by_a_multistage_query(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        ingest([docs], settings, store, encoders, progress=False)

        def search(question: str) -> list:
            plan = QueryPlan(mode="hybrid+colbert", query=encoders.encode_query(question), top_k=3)
            return store.query(plan)

        top = search("When was the lighthouse automated?")[0]
        assert top.source == "docs/lighthouse_history.pdf" and "automated in 1994" in top.text
        assert top.page == 2 and top.title == "The Skerryvore Point Lighthouse"
        ada = search("When was Ada Lovelace born?")
        assert {p.source for p in ada} == {"docs/ada_lovelace.md"}
        assert any("born on 10 December 1815" in p.text for p in ada[:2])

    def test_changed_file_replaces_its_old_chunks(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        ingest([docs], settings, store, encoders, progress=False)
        before = snapshot(store)
        ada = docs / "ada_lovelace.md"
        old_hashes = {p["file_hash"] for p in before.values() if p["source"] == ada.as_posix()}
        ada.write_text(ada.read_text().replace("10 December 1815", "the tenth of December 1815"))

        report = ingest([docs], settings, store, encoders, progress=False)
        assert report.ok
        changed = {k: v for k, v in statuses(report).items() if v != "unchanged"}
        assert changed == {ada.as_posix(): "ingested"}
        after = snapshot(store)
        ada_points = {k: v for k, v in after.items() if v["source"] == ada.as_posix()}
        assert not {p["file_hash"] for p in ada_points.values()} & old_hashes
        assert len(ada_points) == expected_chunks(ada, settings)
        assert any("the tenth of December 1815" in p["text"] for p in ada_points.values())
        assert not any("born on 10 December 1815" in p["text"] for p in after.values())
        others = {k: v for k, v in before.items() if v["source"] != ada.as_posix()}
        assert {k: after[k] for k in others} == others  # other files untouched
        assert store.count() == len(after)

    def test_a_new_chunk_size_reindexes(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        ada = docs / "ada_lovelace.md"
        ingest([ada], settings, store, encoders, progress=False)
        smaller = settings.model_copy(update={"chunk_tokens": 64, "chunk_overlap": 8})
        report = ingest([ada], smaller, store, encoders, progress=False)
        assert statuses(report) == {ada.as_posix(): "ingested"}
        assert store.count() == expected_chunks(ada, smaller) > expected_chunks(ada, settings)

    def test_leftover_old_version_is_cleaned_when_the_new_one_is_complete(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        """The state after a kill between 'upsert new version' and 'delete old version'."""
        path = docs / "photosynthesis.md"
        ingest([path], settings, store, encoders, progress=False)
        old = snapshot(store)
        path.write_text(path.read_text() + "\nChlorophyll a absorbs most strongly at 430 nm.\n")
        new_chunks = chunk_document(load(path), settings.chunk_tokens, settings.chunk_overlap)
        ingest_chunks(new_chunks, store, encoders, progress=False)  # written, never cleaned up
        assert store.count() > len(new_chunks)

        report = ingest([path], settings, store, encoders, progress=False)
        assert statuses(report) == {path.as_posix(): "unchanged"}
        assert set(snapshot(store)) == {c.id for c in new_chunks}
        assert old  # the old version existed


class TestPrune:
    def test_prune_removes_only_deleted_files_under_the_given_paths(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        other = Path("other")
        other.mkdir()
        (other / "keep.md").write_text("# Keep\n\nA note in another folder.")
        (other / "gone.md").write_text("# Gone\n\nThis note is deleted but not in scope.")
        ingest([docs, other], settings, store, encoders, progress=False)
        (docs / "sourdough_recipe.txt").unlink()
        (other / "gone.md").unlink()

        plain = ingest([docs], settings, store, encoders, progress=False)
        sources = {p["source"] for p in snapshot(store).values()}
        assert "docs/sourdough_recipe.txt" in sources and plain.ok

        report = ingest([docs], settings, store, encoders, prune=True, progress=False)
        assert report.ok
        pruned = [r for r in report.files if r.status == "pruned"]
        assert [(r.path, r.reason) for r in pruned] == [
            ("docs/sourdough_recipe.txt", "file no longer exists")
        ]
        assert pruned[0].chunks > 0
        sources = {p["source"] for p in snapshot(store).values()}
        assert "docs/sourdough_recipe.txt" not in sources
        assert {"other/keep.md", "other/gone.md"} <= sources  # outside the pruned scope
        assert store.count(Filter(must={"source": "docs/sourdough_recipe.txt"})) == 0

    def test_missing_path_fails_unless_pruning_explains_it(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        tea = docs / "green_tea.html"
        ingest([tea], settings, store, encoders, progress=False)
        tea.unlink()
        report = ingest([tea], settings, store, encoders, progress=False)
        assert not report.ok
        assert [(r.path, r.status, r.reason) for r in report.files] == [
            ("docs/green_tea.html", "failed", "no such file or folder")
        ]
        report = ingest([tea], settings, store, encoders, prune=True, progress=False)
        assert report.ok and statuses(report) == {"docs/green_tea.html": "pruned"}
        assert store.count() == 0


class TestBadFiles:
    def test_bad_files_are_reported_and_the_rest_is_ingested(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        from pypdf import PdfWriter

        bad = docs / "bad"
        bad.mkdir()
        (bad / "empty.md").write_bytes(b"")
        (bad / "binary.txt").write_bytes(b"\x00\x01\x02binary")
        (bad / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
        (bad / "corrupt.pdf").write_bytes(b"%PDF-1.4\ngarbage\n%%EOF")
        writer = PdfWriter()
        writer.add_blank_page(100, 100)
        writer.encrypt(user_password="pw", owner_password="owner", algorithm="AES-128")
        with open(bad / "locked.pdf", "wb") as fh:
            writer.write(fh)
        subprocess.run(["truncate", "-s", "200M", str(bad / "huge.md")], check=True)
        (bad / "slides.pptx").write_bytes(b"PK\x03\x04")
        (docs / ".hidden.md").write_text("# Hidden files are ignored")
        explicit = Path("notes.docx")
        explicit.write_bytes(b"PK\x03\x04")

        report = ingest([docs, explicit], settings, store, encoders, progress=False)
        assert not report.ok
        by_path = {r.path: (r.status, r.reason) for r in report.files}
        assert by_path["docs/bad/empty.md"] == ("failed", "empty file")
        assert by_path["docs/bad/binary.txt"] == ("failed", "binary file (contains NUL bytes)")
        assert by_path["docs/bad/latin1.txt"] == (
            "failed",
            "not UTF-8 text (undecodable byte at offset 3)",
        )
        assert by_path["docs/bad/corrupt.pdf"][0] == "failed"
        assert by_path["docs/bad/corrupt.pdf"][1].startswith("corrupt PDF")
        assert by_path["docs/bad/locked.pdf"] == ("failed", "encrypted PDF")
        assert by_path["docs/bad/huge.md"] == ("failed", "file is 200.0 MB, over the 50 MB limit")
        assert by_path["docs/bad/slides.pptx"] == ("skipped", "unsupported file type '.pptx'")
        assert by_path["notes.docx"] == ("failed", "unsupported file type '.docx'")
        assert "docs/.hidden.md" not in by_path
        assert len(report.failed) == 7
        good = {
            p: s
            for p, (s, _) in by_path.items()
            if not p.startswith("docs/bad") and p != "notes.docx"
        }
        assert len(good) == 8 and set(good.values()) == {"ingested"}
        stored = {p["source"] for p in snapshot(store).values()}
        assert stored == set(good)
        assert "7 failed" in report.summary() and "1 skipped" in report.summary()

    def test_a_file_over_the_page_or_chunk_limit_is_refused_before_encoding(
        self, docs: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        big = docs / "big"
        big.mkdir()
        (big / "many_pages.pdf").write_bytes(
            _make_pdf_bytes([f"Page {i} of the harbour ledger." for i in range(1, 31)])
        )
        (big / "long.txt").write_text(
            "\n\n".join(f"Paragraph {i} of a long log about tides and ships." for i in range(400))
        )
        limited = settings.model_copy(update={"max_file_pages": 20, "max_file_chunks": 5})
        report = ingest([docs], limited, store, encoders, progress=False)

        by_path = {r.path: (r.status, r.reason) for r in report.files}
        status, reason = by_path["docs/big/many_pages.pdf"]
        assert status == "failed" and reason is not None
        assert reason.startswith("30 pages, over the limit of 20 pages per file")
        assert "MSRAG_MAX_FILE_PAGES" in reason
        status, reason = by_path["docs/big/long.txt"]
        assert status == "failed" and reason is not None
        assert "over the limit of 5 chunks per file" in reason
        assert "MSRAG_MAX_FILE_CHUNKS" in reason
        assert not report.ok and len(report.failed) == 2
        stored = {p["source"] for p in snapshot(store).values()}
        assert not any(s.startswith("docs/big/") for s in stored)
        assert {by_path[s][0] for s in stored} == {"ingested"} and len(stored) == 8

    def test_owner_password_only_pdf_is_ingested_and_found(
        self, tmp_path: Path, settings: Settings, store: Store, encoders: Encoders
    ) -> None:
        # Anyone may open it (empty user password); AES-256 needs pypdf's crypto extra.
        from pypdf import PdfWriter

        plain = tmp_path / "plain.pdf"
        plain.write_bytes(
            _make_pdf_bytes(["The owner password never stopped a reader of this harbour log."])
        )
        writer = PdfWriter(clone_from=str(plain))
        writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
        locked = tmp_path / "owner_only.pdf"
        with open(locked, "wb") as fh:
            writer.write(fh)

        report = ingest([locked], settings, store, encoders, progress=False)
        assert [(r.status, r.reason) for r in report.files] == [("ingested", None)]
        texts = [p["text"] for p in snapshot(store).values()]
        assert any("harbour log" in t for t in texts)


def _make_pdf_bytes(pages: list[str]) -> bytes:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_pdf", REPO / "examples" / "make_pdf.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pdf_bytes(pages)


# --- kill -9 and resume ------------------------------------------------------------------------

def write_corpus(folder: Path, version: str, files: int) -> None:
    folder.mkdir(exist_ok=True)
    for n in range(files):
        paragraphs = [
            f"Report {n} ({version}), part {p}. The station at grid {n}-{p} recorded "
            f"{(n * 31 + p * 7) % 97} millimetres of rain and {(n + p) % 13} storms. "
            f"Observers noted wind from the {['north', 'south', 'east', 'west'][p % 4]}."
            for p in range(6)
        ]
        (folder / f"report_{n:02d}.md").write_text(f"# Report {n}\n\n" + "\n\n".join(paragraphs))


@pytest.mark.slow
def test_killed_run_resumes_to_exactly_the_state_of_a_clean_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_model_dirs, encoders: Encoders
) -> None:
    monkeypatch.chdir(tmp_path)
    corpus = Path("reports")
    overrides = {"chunk_tokens": 64, "chunk_overlap": 8, "encode_batch_size": 4}
    interrupted = make_settings(offline_model_dirs, tmp_path / "interrupted", **overrides)
    clean = make_settings(offline_model_dirs, tmp_path / "clean", **overrides)

    # Version A fully stored; then every file changes, so the killed run mixes old and new.
    write_corpus(corpus, "A", 8)
    with open_store(interrupted, encoders.layout(interrupted)) as store:
        assert ingest([corpus], interrupted, store, encoders, progress=False).ok
    write_corpus(corpus, "B", 8)
    expected_points = sum(expected_chunks(p, interrupted) for p in corpus.iterdir())

    config = {
        "settings": {
            k: str(v) if isinstance(v, Path) else v
            for k, v in interrupted.model_dump(mode="json").items()
            if k in {"data_dir", "dense_model", "sparse_model", "colbert_model", "pool_factor",
                     "colbert_datatype", *overrides}
        },
        "paths": [str(corpus)],
    }
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stored_batches = 0
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("stored"):
            stored_batches += 1
        if stored_batches == 3:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""

    with open_store(interrupted, encoders.layout(interrupted)) as store:
        mid = snapshot(store)
        versions = {(p["source"], p["file_hash"]) for p in mid.values()}
        sources = {s for s, _ in versions}
        assert len(versions) > len(sources), "killed with old and new versions side by side"
        resumed = ingest([corpus], interrupted, store, encoders, progress=False)
        assert resumed.ok
        assert set(statuses(resumed).values()) <= {"ingested", "unchanged"}
        assert 0 < resumed.chunks_written < expected_points  # stored batches were not redone
        after_resume = snapshot(store)

    with open_store(clean, encoders.layout(clean)) as store:
        assert ingest([corpus], clean, store, encoders, progress=False).ok
        clean_state = snapshot(store)

    assert len(clean_state) == expected_points
    assert after_resume == clean_state
