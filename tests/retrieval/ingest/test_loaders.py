"""Loaders: each format with title, pages and headings; each kind of bad file with its reason."""

from __future__ import annotations

import importlib.util
import io
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from pypdf import PdfWriter

from retrieval.errors import RetrievalError
from retrieval.ingest.loaders import (
    BadFileError,
    Document,
    UnsupportedFileError,
    doc_id_for,
    load,
    source_for,
)
from tests.conftest import DEMO_DOCS


def _make_pdf_module() -> ModuleType:
    path = DEMO_DOCS.parent / "make_pdf.py"
    spec = importlib.util.spec_from_file_location("make_pdf", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_pdf = _make_pdf_module()


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def reason_of(path: Path, **kwargs: object) -> str:
    with pytest.raises(BadFileError) as info:
        load(path, **kwargs)  # type: ignore[arg-type]
    return info.value.reason


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


class TestText:
    def test_plain_text_title_is_the_stem_and_newlines_are_normalised(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "notes" / "meeting.txt", b"Line one.\r\nLine two.\r\n"))
        assert doc.text == "Line one.\nLine two.\n"
        assert doc.title == "meeting"
        assert doc.sections == ()
        assert doc.locate(3) == (None, None)

    def test_utf8_bom_is_not_text(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "bom.txt", "\ufeffCafé crème".encode()))
        assert doc.text == "Café crème"

    def test_source_is_relative_below_cwd_and_absolute_outside(
        self, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        inside = load(write(tmp_path / "a" / "b.txt", "text"))
        assert inside.source == "a/b.txt"
        outside_path = write(tmp_path_factory.mktemp("elsewhere") / "c.txt", "text")
        outside = load(outside_path)
        assert outside.source == outside_path.resolve().as_posix()
        assert Path(outside.source).is_absolute()

    def test_doc_id_is_a_stable_hash_of_the_source(self, tmp_path: Path) -> None:
        path = write(tmp_path / "x.txt", "one")
        first = load(path)
        path.write_text("two, a different version")
        second = load(path)
        assert first.doc_id == second.doc_id == doc_id_for("x.txt")
        assert first.content_hash != second.content_hash
        assert doc_id_for("y.txt") != first.doc_id


class TestMarkdown:
    DOC = (
        "# Ada Lovelace\n\nIntro text.\n\n## Early life\n\nBorn in 1815.\n\n"
        "```python\n# not a heading\nx = 1\n```\n\n### Work ###\n\nNote G.\n"
    )

    def test_headings_become_sections_with_exact_offsets(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "ada.md", self.DOC))
        assert doc.text == self.DOC  # markdown is kept as written
        assert [s.heading for s in doc.sections] == ["Ada Lovelace", "Early life", "Work"]
        for section in doc.sections:
            assert doc.text[section.char_start :].lstrip("# ").startswith(section.heading)
        assert doc.title == "Ada Lovelace"

    def test_locate_gives_the_heading_in_force(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "ada.md", self.DOC))
        assert doc.locate(doc.text.index("Intro")) == (None, "Ada Lovelace")
        assert doc.locate(doc.text.index("Born")) == (None, "Early life")
        assert doc.locate(doc.text.index("not a heading")) == (None, "Early life")
        assert doc.locate(doc.text.index("Note G")) == (None, "Work")

    def test_text_before_the_first_heading_has_none(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "late.md", "Preamble.\n\n## Later\n\nBody."))
        assert doc.locate(0) == (None, None)
        assert doc.title == "Later"

    def test_no_heading_means_the_stem_is_the_title(self, tmp_path: Path) -> None:
        assert load(write(tmp_path / "plain-notes.md", "Just text.")).title == "plain-notes"


class TestHtml:
    PAGE = """<!doctype html><html><head><title> Tea   guide </title>
    <style>p { color: red }</style><script>var secret = 1;</script></head><body>
    <h1>Green <em>tea</em></h1><p>Sencha is <b>steamed</b>,
       not   roasted.</p>
    <script>alert('dropped')</script><noscript>enable js</noscript>
    <p>Payload: &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt;</p>
    <h2>Matcha</h2><ul><li>Whisk it.</li><li>Drink it.</li></ul><!-- a comment -->
    </body></html>"""

    def test_visible_text_with_paragraphs_and_no_scripts(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "tea.html", self.PAGE))
        assert doc.title == "Tea guide"
        assert doc.text == (
            "# Green tea\n\nSencha is steamed, not roasted.\n\n"
            "Payload: <script>alert(1)</script> <img src=x onerror=alert(1)>\n\n"
            "## Matcha\n\nWhisk it.\n\nDrink it."
        )
        for gone in ("secret", "dropped", "color", "enable js", "comment"):
            assert gone not in doc.text

    def test_headings_are_sections(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "tea.html", self.PAGE))
        # as in Markdown, a section starts at its heading's "#" line
        assert [(doc.text[s.char_start : s.char_start + 8], s.heading) for s in doc.sections] == [
            ("# Green ", "Green tea"),
            ("## Match", "Matcha"),
        ]
        assert doc.locate(doc.text.index("Drink")) == (None, "Matcha")

    def test_first_heading_is_the_title_without_a_title_tag(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "t.htm", "<body><h2>Only heading</h2><p>x</p></body>"))
        assert doc.title == "Only heading"

    def test_preformatted_text_keeps_its_spacing(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "p.html", "<p>Code:</p><pre>a   b\n  c</pre>"))
        assert doc.text == "Code:\n\na   b\n  c"

    def test_empty_headings_leave_no_marker(self, tmp_path: Path) -> None:
        page = "<h2> </h2><h3><a class='headerlink' href='#x'>¶</a></h3><p>Body.</p>"
        doc = load(write(tmp_path / "e.html", page))
        assert doc.text == "Body."
        assert doc.sections == ()


class TestSphinxPage:
    """A page laid out as Sphinx 5 lays out the Python docs (markup written for this test)."""

    PAGE = """<!DOCTYPE html><html><head><title>3. Strings — Demo 1.0 documentation</title>
    </head><body>
    <div class="mobile-nav"><nav class="nav-content" role="navigation">
      <a href="../index.html">Demo</a><div class="search" role="search">Go</div></nav></div>
    <div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3>
      <ul><li><a href="../genindex.html">index</a></li><li><a href="next.html">next</a> |</li>
      </ul></div>
    <div class="document"><div class="documentwrapper"><div class="bodywrapper">
    <div class="body" role="main">
    <section id="strings">
    <h1><span class="section-number">3. </span>Strings<a class="headerlink" href="#strings"
      title="Permalink to this heading">¶</a></h1>
    <nav class="contents" id="contents"><p class="topic-title">Contents</p>
      <ul><li><a href="#how-do-i-join-strings">How do I join strings?</a></li></ul></nav>
    <div class="contents local topic" id="old-contents"><ul><li>
      <a href="#slicing">How do I slice strings?</a></li></ul></div>
    <p>Strings are sequences of characters.</p>
    <div class="toctree-wrapper compound"><ul><li class="toctree-l1">
      <a href="formatting.html">3.9. Formatting strings quickly</a></li></ul></div>
    <section id="how-do-i-join-strings">
    <h2><span class="section-number">3.1. </span>How do I join strings?<a class="headerlink"
      href="#how-do-i-join-strings" title="Permalink to this heading">¶</a></h2>
    <p>Use <code class="docutils literal"><span class="pre">str.join()</span></code>.</p>
    <dl class="py method"><dt class="sig sig-object py" id="str.join">
      <span class="sig-name descname">str.join</span>(<em>iterable</em>)<a class="headerlink"
      href="#str.join" title="Permalink to this definition">¶</a></dt>
      <dd><p>Return a string which is the concatenation of the strings.</p></dd></dl>
    <p>See <a href="#slicing">slicing</a> and the footnote<a href="#fn">#</a>.</p>
    </section></section>
    </div></div></div>
    <div class="sphinxsidebar" role="navigation" aria-label="main navigation">
      <h3><a href="../contents.html">Table of Contents</a></h3>
      <ul><li><a href="#">3. Strings</a><ul><li><a href="#how-do-i-join-strings">3.1. How do I
      join strings?</a></li></ul></li></ul>
      <h4>Previous topic</h4><p><a href="numbers.html">2. Numbers</a></p>
      <div role="note"><h3>This Page</h3><ul><li><a href="bugs.html">Report a Bug</a></li></ul>
      </div></div>
    <div class="clearer"></div></div>
    <div class="footer">&copy; Copyright 2001-2026. Created using Sphinx 5.3.0.</div>
    <footer><p>Page footer</p></footer>
    </body></html>"""

    def test_only_the_body_is_kept_with_headings_as_markdown_and_no_permalinks(
        self, tmp_path: Path
    ) -> None:
        doc = load(write(tmp_path / "strings.html", self.PAGE))
        assert doc.title == "3. Strings — Demo 1.0 documentation"
        assert doc.text == (
            "# 3. Strings\n\n"
            "Strings are sequences of characters.\n\n"
            "## 3.1. How do I join strings?\n\n"
            "Use str.join().\n\n"
            "str.join(iterable)\n\n"
            "Return a string which is the concatenation of the strings.\n\n"
            "See slicing and the footnote."
        )
        for furniture in (
            "¶",
            "Navigation",
            "Table of Contents",
            "Previous topic",
            "Report a Bug",
            "Copyright",
            "Page footer",
            "Contents",
            "How do I slice",
            "Formatting strings quickly",
            "Go",
        ):
            assert furniture not in doc.text

    def test_sections_are_named_by_the_heading_without_its_permalink(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "strings.html", self.PAGE))
        assert [s.heading for s in doc.sections] == ["3. Strings", "3.1. How do I join strings?"]
        for section in doc.sections:
            assert doc.text[section.char_start :].lstrip("# ").startswith(section.heading)
        assert doc.locate(doc.text.index("Return a string")) == (
            None,
            "3.1. How do I join strings?",
        )


class TestPdf:
    def test_pages_are_sections_and_metadata_gives_the_title(self, tmp_path: Path) -> None:
        pages = ["First page says hello.", "Second page talks about lighthouses.", "Third."]
        doc = load(write(tmp_path / "three.pdf", make_pdf.pdf_bytes(pages, title="Three pages")))
        assert doc.title == "Three pages"
        assert [s.page for s in doc.sections] == [1, 2, 3]
        assert doc.locate(doc.text.index("hello")) == (1, None)
        assert doc.locate(doc.text.index("lighthouses")) == (2, None)
        assert doc.locate(doc.text.index("Third")) == (3, None)
        assert doc.text == "\n\n".join(pages)

    def test_blank_pages_are_skipped_but_numbering_is_kept(self, tmp_path: Path) -> None:
        doc = load(write(tmp_path / "gap.pdf", make_pdf.pdf_bytes(["One.", "", "Three."])))
        assert [s.page for s in doc.sections] == [1, 3]
        assert doc.title == "gap"

    def test_owner_password_only_pdf_is_read(self, tmp_path: Path) -> None:
        path = write(tmp_path / "plain.pdf", make_pdf.pdf_bytes(["Readable by anyone."]))
        writer = PdfWriter(clone_from=str(path))
        writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
        buffer = io.BytesIO()
        writer.write(buffer)
        assert "Readable by anyone." in load(write(tmp_path / "owner.pdf", buffer.getvalue())).text

    def test_a_missing_crypto_library_is_named_not_called_corrupt(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import pypdf._encryption
        from pypdf.errors import DependencyError

        path = write(tmp_path / "plain.pdf", make_pdf.pdf_bytes(["Readable by anyone."]))
        writer = PdfWriter(clone_from=str(path))
        writer.encrypt(user_password="", owner_password="owner", algorithm="AES-128")
        buffer = io.BytesIO()
        writer.write(buffer)

        class NoAES:  # what pypdf falls back to when `cryptography` is not installed
            def __init__(self, key: bytes) -> None:
                pass

            def decrypt(self, data: bytes, **kwargs: object) -> bytes:
                raise DependencyError("cryptography>=3.1 is required for AES algorithm")

        monkeypatch.setattr(pypdf._encryption, "CryptAES", NoAES)
        reason = reason_of(write(tmp_path / "owner.pdf", buffer.getvalue()))
        assert reason.startswith("PDF needs a missing library (cryptography")

    def test_demo_pdf_has_two_pages(self) -> None:
        doc = load(DEMO_DOCS / "lighthouse_history.pdf")
        assert doc.title == "The Skerryvore Point Lighthouse"
        assert doc.locate(doc.text.index("Angus MacRae")) == (2, None)
        assert doc.locate(doc.text.index("1838")) == (1, None)


class TestBadFiles:
    def test_unknown_extension(self, tmp_path: Path) -> None:
        with pytest.raises(UnsupportedFileError) as info:
            load(write(tmp_path / "report.docx", b"PK\x03\x04"))
        assert info.value.reason == "unsupported file type '.docx'"
        assert ".pdf" in str(info.value)  # the message says what would work

    def test_missing_file(self, tmp_path: Path) -> None:
        assert reason_of(tmp_path / "nope.md") == "no such file"

    @pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
    def test_empty(self, tmp_path: Path, content: bytes) -> None:
        assert reason_of(write(tmp_path / "empty.txt", content)) == "empty file"

    def test_html_without_visible_text(self, tmp_path: Path) -> None:
        path = write(tmp_path / "blank.html", "<html><script>x()</script><p> </p></html>")
        assert reason_of(path) == "no text found in the file"

    def test_binary(self, tmp_path: Path) -> None:
        path = write(tmp_path / "image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
        assert reason_of(path) == "binary file (contains NUL bytes)"

    def test_undecodable(self, tmp_path: Path) -> None:
        path = write(tmp_path / "latin1.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1"))
        assert reason_of(path) == "not UTF-8 text (undecodable byte at offset 3)"

    def test_encrypted_pdf(self, tmp_path: Path) -> None:
        writer = PdfWriter()
        writer.add_blank_page(200, 200)
        writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
        buffer = io.BytesIO()
        writer.write(buffer)
        assert reason_of(write(tmp_path / "locked.pdf", buffer.getvalue())) == "encrypted PDF"

    @pytest.mark.parametrize(
        "content",
        [
            b"%PDF-1.4\nthis is not really a pdf\n%%EOF\n",
            b"not a pdf at all",
            make_pdf.pdf_bytes(["Truncated document text."])[:60],
        ],
    )
    def test_corrupt_pdf(self, tmp_path: Path, content: bytes) -> None:
        assert reason_of(write(tmp_path / "broken.pdf", content)).startswith("corrupt PDF (")

    def test_pdf_without_text(self, tmp_path: Path) -> None:
        writer = PdfWriter()
        writer.add_blank_page(200, 200)
        buffer = io.BytesIO()
        writer.write(buffer)
        path = write(tmp_path / "scan.pdf", buffer.getvalue())
        assert reason_of(path) == "PDF has no extractable text (scanned images?)"

    def test_too_large_is_refused_without_reading_it(self, tmp_path: Path) -> None:
        path = tmp_path / "huge.txt"
        subprocess.run(["truncate", "-s", "200M", str(path)], check=True)  # sparse: no disk used
        assert path.stat().st_size == 200 * 1024 * 1024
        assert reason_of(path, max_mb=50) == "file is 200.0 MB, over the 50 MB limit"

    def test_errors_are_retrieval_errors_with_an_actionable_sentence(self, tmp_path: Path) -> None:
        path = write(tmp_path / "empty.md", b"")
        with pytest.raises(RetrievalError) as info:
            load(path)
        message = str(info.value)
        assert message == "Cannot ingest empty.md: empty file. Fix or remove the file."
        assert source_for(path) == "empty.md"


class TestDemoCorpus:
    def test_every_demo_file_loads_with_a_title(self) -> None:
        files = sorted(p for p in DEMO_DOCS.iterdir() if p.is_file())
        assert 6 <= len(files) <= 10
        assert {p.suffix for p in files} == {".md", ".txt", ".html", ".pdf"}
        docs: list[Document] = [load(p) for p in files]
        assert all(d.title and d.text.strip() for d in docs)
        assert len({d.doc_id for d in docs}) == len(docs)

    def test_markup_test_page_keeps_payloads_as_text_and_drops_real_scripts(self) -> None:
        doc = load(DEMO_DOCS / "security_test_page.html")
        for payload in (
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[click](javascript:alert(1))",
        ):
            assert payload in doc.text
        assert "must never reach the index" not in doc.text
        assert "document.title" not in doc.text

    def test_one_document_carries_a_prompt_injection(self) -> None:
        texts = [load(p).text for p in DEMO_DOCS.iterdir() if p.is_file()]
        injected = [t for t in texts if "Ignore previous instructions" in t]
        assert len(injected) == 1 and "'HACKED'" in injected[0]
