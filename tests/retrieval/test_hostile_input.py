"""Hostile input for the retrieval layer, fuzzed with hypothesis: loaders, chunker, settings.

Property: whatever the bytes, a loader returns a consistent `Document` or raises a declared
`LoadError` (with a reason); the chunker's chunks are exact slices of the text; settings accept
a value or raise pydantic's `ValidationError`. The bombs (deep nesting, looping and decompressing
PDFs) run in a child process with an address-space limit and a time limit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from msrag.settings import Settings
from retrieval.ingest.chunking import chunk_document, count_tokens
from retrieval.ingest.loaders import Document, LoadError, load
from tests.conftest import REPO

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text with everything a file may hold: any unicode (surrogates excluded: not encodable),
# control characters, NUL, long runs.
hostile_text = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)), min_size=0, max_size=2_000
) | st.builds(
    lambda c, n: c * n,
    st.sampled_from(["\x00", "\n", "#", "<", " ", "é", "\u202e"]),
    st.integers(0, 20_000),
)
markup = st.recursive(
    hostile_text.map(lambda t: t[:50]),
    lambda inner: st.builds(
        lambda tag, body, attrs: f"<{tag} {attrs}>{body}</{tag}>",
        st.sampled_from(["div", "p", "h1", "h2", "pre", "script", "style", "b", "table", "x-y"]),
        st.lists(inner, max_size=4).map("".join),
        hostile_text.map(lambda t: t[:20]),
    ),
    max_leaves=30,
)


def check_document(doc: Document) -> None:
    assert doc.text.strip()
    assert all(0 <= s.char_start <= len(doc.text) for s in doc.sections)
    assert [s.char_start for s in doc.sections] == sorted(s.char_start for s in doc.sections)


def load_or_declared(name: str, data: bytes) -> Document | None:
    try:
        doc = load(name, data=data)
    except LoadError as exc:
        assert exc.reason  # a reason the ingest report can show
        return None
    check_document(doc)
    return doc


class TestLoaders:
    @FUZZ
    @given(data=st.binary(max_size=4_000), suffix=st.sampled_from([".txt", ".md", ".html", ".pdf"]))
    def test_random_bytes(self, data: bytes, suffix: str) -> None:
        load_or_declared(f"fuzz{suffix}", data)

    @FUZZ
    @given(text=hostile_text, suffix=st.sampled_from([".txt", ".md", ".html"]))
    def test_hostile_text(self, text: str, suffix: str) -> None:
        doc = load_or_declared(f"fuzz{suffix}", text.encode("utf-8"))
        if doc is not None and "\x00" not in text and suffix == ".txt":
            assert doc.text == text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")

    @FUZZ
    @given(page=markup)
    def test_random_html(self, page: str) -> None:
        load_or_declared("fuzz.html", page.encode("utf-8"))

    @FUZZ
    @given(data=st.binary(max_size=3_000))
    def test_damaged_pdf(self, data: bytes) -> None:
        pdf = MINIMAL_PDF[: len(MINIMAL_PDF) // 2] + data + MINIMAL_PDF[len(MINIMAL_PDF) // 2 :]
        load_or_declared("fuzz.pdf", pdf)

    def test_huge_and_empty(self) -> None:
        assert load_or_declared("empty.txt", b"") is None
        assert load_or_declared("blank.md", b" \n\t " * 1000) is None
        doc = load_or_declared("huge.txt", b"word " * 2_000_000)  # 10 MB of text
        assert doc is not None and len(doc.text) == 10_000_000


class TestChunker:
    @FUZZ
    @given(text=hostile_text, tokens=st.integers(16, 300), overlap=st.integers(0, 15))
    def test_chunks_are_exact_slices_within_budget(
        self, text: str, tokens: int, overlap: int
    ) -> None:
        if not text.strip():
            return
        doc = Document("fuzz.txt", "d", "t", text, "h")
        chunks = chunk_document(doc, tokens, overlap)
        assert chunks, "non-blank text gives at least one chunk"
        for i, c in enumerate(chunks):
            assert text[c.char_start : c.char_end] == c.text
            assert c.chunk_index == i and c.chunk_count == len(chunks)
            assert count_tokens(c.text) <= tokens
        assert len({c.id for c in chunks}) == len(chunks)


class TestSettings:
    @FUZZ
    @given(
        name=st.sampled_from(
            [
                "top_k",
                "mode",
                "pool_factor",
                "min_free_mb",
                "llm_timeout",
                "data_dir",
                "colbert_datatype",
                "prefetch_limit",
                "chunk_overlap",
                "max_file_mb",
            ]
        ),
        value=hostile_text.map(lambda t: t[:200]),
    )
    def test_any_environment_value_is_accepted_or_a_validation_error(
        self, name: str, value: str
    ) -> None:
        if "\x00" in value:
            return  # the environment itself cannot hold NUL
        with pytest.MonkeyPatch.context() as env:
            env.setenv(f"MSRAG_{name.upper()}", value)
            try:
                Settings(_env_file=None)  # type: ignore[call-arg]
            except ValidationError as exc:
                assert f"{name}" in str(exc)

    @FUZZ
    @given(content=st.binary(max_size=2_000))
    def test_any_env_file_is_accepted_or_a_validation_error(
        self, content: bytes, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        env = tmp_path_factory.mktemp("env") / ".env"
        env.write_bytes(content)
        # A file that is not UTF-8 is named by Python's own UnicodeDecodeError.
        with contextlib.suppress(ValidationError, UnicodeDecodeError):
            Settings(_env_file=env)  # type: ignore[call-arg]


# --- bombs: each in a child with 1.5 GB of address space and 60 s ---------------------------


def _pdf(objects: list[bytes]) -> bytes:
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def _page_pdf(content: bytes, filters: bytes = b"") -> bytes:
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d %s >>\nstream\n" % (len(content), filters) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


MINIMAL_PDF = _page_pdf(b"BT /F1 12 Tf 72 712 Td (Hello hostile world) Tj ET")

BOMBS = {
    # 800 MB of page content compressed to ~0.8 MB
    "decompression bomb": lambda: _page_pdf(
        zlib.compress(b"BT /F1 12 Tf 72 712 Td (x) Tj ET\n" + b" " * (800 << 20), 9),
        b"/Filter /FlateDecode",
    ),
    "page tree that loops": lambda: _pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]
    ),
    "object that references itself": lambda: _pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids 2 0 R /Count 2 0 R >>"]
    ),
    "html nested 100,000 deep": lambda: b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000,
    "html unclosed 100,000 deep": lambda: b"<b><i>" * 50_000 + b"deep",
    "html headings nested 50,000 deep": lambda: b"<h2>" * 50_000 + b"deep",
    "html permalinks nested 50,000 deep": lambda: b'<a href="#x">' * 50_000 + "¶".encode(),
    "markdown quote nested 50,000 deep": lambda: b"> " * 50_000 + b"deep\n",
}
_BOMB_CHILD = """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
    from retrieval.ingest.loaders import LoadError, load
    data = sys.stdin.buffer.read()
    try:
        doc = load(sys.argv[1], data=data)
        print("document", len(doc.text))
    except LoadError as exc:
        print("refused", exc.reason)
    # Peak RSS of this program (ru_maxrss would include the forking parent's, kept across exec).
    print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""


@pytest.mark.parametrize("bomb", BOMBS)
def test_bombs_stay_bounded_in_time_and_memory(bomb: str) -> None:
    data = BOMBS[bomb]()
    name = (
        "bomb.pdf"
        if data.startswith(b"%PDF")
        else ("bomb.md" if bomb.startswith("markdown") else "bomb.html")
    )
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_BOMB_CHILD), name],
        input=data,
        capture_output=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    # Exit 0 means no MemoryError, RecursionError or other undeclared error escaped.
    assert child.returncode == 0, child.stderr.decode()[-2000:]
    verdict, peak_kb = child.stdout.decode().splitlines()
    assert verdict.split(" ", 1)[0] in ("document", "refused"), verdict
    assert int(peak_kb) < 1536 << 10
