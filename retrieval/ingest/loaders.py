"""Files → text: one `Document` per file, with the page or heading of every character offset.

Supported: `.txt`, `.md`, `.html`, `.pdf`. Anything else, and anything we cannot read as text
(empty, binary, not UTF-8, encrypted or corrupt PDF, too large), raises an error whose `reason`
says why, so ingest can report the file and carry on with the rest.

HTML pages lose their furniture (navigation, sidebars, footers, tables of contents, heading
permalinks) and keep their headings as Markdown `#` lines, so a page reads like a Markdown file
to the chunker, the extractive answer and the user.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from bs4.element import Tag

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES: frozenset[str] = (
    MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
)


class LoadError(RetrievalError):
    """A file could not be turned into a document; `reason` is the short why, for reports."""

    def __init__(self, path: Path | str, reason: str, advice: str) -> None:
        self.path = source_for(path)  # as the store and the ingest report name it
        self.reason = reason
        super().__init__(f"Cannot ingest {self.path}: {reason}. {advice}")


class UnsupportedFileError(LoadError):
    """The file type is not one we read (by extension)."""

    def __init__(self, path: Path | str, reason: str) -> None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        super().__init__(path, reason, f"Convert it to one of {supported}, or leave it out.")


class BadFileError(LoadError):
    """The file has a supported type but no usable text (empty, binary, corrupt, too large…)."""

    def __init__(
        self, path: Path | str, reason: str, advice: str = "Fix or remove the file."
    ) -> None:
        super().__init__(path, reason, advice)


@dataclass(frozen=True)
class Section:
    """From `char_start` on (until the next section) the text is on `page` / under `heading`."""

    char_start: int
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True)
class Document:
    """The extracted text of one file and where its pages and headings start.

        doc = load("examples/docs/ada_lovelace.md")
        doc.title, doc.locate(doc.text.index("Analytical Engine"))
        # -> ('Ada Lovelace', (None, 'The Analytical Engine'))
    """

    source: str  # the path as the user sees it (relative to cwd when possible)
    doc_id: str  # stable hash of `source`
    title: str
    text: str
    content_hash: str  # sha256 of the file's bytes
    sections: tuple[Section, ...] = field(default=())

    def locate(self, offset: int) -> tuple[int | None, str | None]:
        """(page, heading) of the character at `offset`."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0:
            return None, None
        section = self.sections[i]
        return section.page, section.heading

    @property
    def _starts(self) -> list[int]:
        return [s.char_start for s in self.sections]


def source_for(path: Path | str) -> str:
    """How a file is named in the store: relative to the working directory when it is below it."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def doc_id_for(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_size(path: Path, max_mb: float | None) -> None:
    """Refuse files over the limit before reading a byte of them."""
    if max_mb is None:
        return
    size = path.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise BadFileError(
            path,
            f"file is {size / 1024 / 1024:.1f} MB, over the {max_mb:g} MB limit",
            "Split it, or raise MSRAG_MAX_FILE_MB.",
        )


def read_file(path: Path | str, *, max_mb: float | None = None) -> bytes:
    """The file's bytes, after the existence, type and size checks (cheap, no parsing)."""
    path = Path(path)
    if not path.is_file():
        raise BadFileError(path, "no such file", "Check the path.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileError(path, f"unsupported file type '{suffix or path.name}'")
    check_size(path, max_mb)
    return path.read_bytes()


def load(path: Path | str, *, max_mb: float | None = None, data: bytes | None = None) -> Document:
    """Read one file into a `Document`.

    `data` lets a caller that already read (and hashed) the bytes avoid a second read.
    Raises `UnsupportedFileError` or `BadFileError` (both `RetrievalError`) with a `reason`.
    """
    path = Path(path)
    if data is None:
        data = read_file(path, max_mb=max_mb)
    suffix = path.suffix.lower()
    if not data.strip():
        raise BadFileError(path, "empty file")
    if suffix in PDF_SUFFIXES:
        text, title, sections = _parse_pdf(path, data)
    else:
        raw = _decode(path, data)
        if suffix in MARKDOWN_SUFFIXES:
            text, title, sections = _parse_markdown(raw)
        elif suffix in HTML_SUFFIXES:
            text, title, sections = _parse_html(raw)
        else:
            text, title, sections = raw, None, []
    if not text.strip():
        raise BadFileError(path, "no text found in the file")
    source = source_for(path)
    return Document(
        source=source,
        doc_id=doc_id_for(source),
        title=(title or "").strip() or path.stem,
        text=text,
        content_hash=file_digest(data),
        sections=tuple(sections),
    )


# --- text ------------------------------------------------------------------------------------


def _decode(path: Path, data: bytes) -> str:
    # Binary files are refused, not guessed at: a NUL byte never occurs in real text files.
    if b"\x00" in data[: 1 << 20]:
        raise BadFileError(path, "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise BadFileError(
            path,
            f"not UTF-8 text (undecodable byte at offset {e.start})",
            "Re-save it as UTF-8.",
        ) from None
    # One newline convention, so offsets mean the same thing for every file.
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- markdown --------------------------------------------------------------------------------

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _parse_markdown(text: str) -> tuple[str, str | None, list[Section]]:
    """Markdown is kept as written (it is already readable); headings become sections."""
    sections: list[Section] = []
    title: str | None = None
    in_fence = False
    offset = 0
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := _ATX_HEADING.match(line.rstrip("\n"))):
            heading = m.group(2).strip()
            sections.append(Section(char_start=offset, heading=heading))
            title = title or heading
        offset += len(line)
    return text, title, sections


# --- html ------------------------------------------------------------------------------------

_DROPPED_TAGS = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "caption",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

# Page furniture: what a site or a documentation generator (Sphinx, MkDocs, docutils) wraps
# around the content. Indexed, a sidebar's or a table of contents' list of titles matches many
# questions and crowds out the passages that answer them, and a permalink "¶" ends every heading.
_FURNITURE_TAGS = frozenset({"nav", "footer"})
_FURNITURE_ROLES = frozenset({"navigation", "search", "contentinfo"})
_FURNITURE_CLASSES = frozenset(
    {
        "headerlink",  # Sphinx/MkDocs heading permalink "¶"
        "sphinxsidebar",
        "related",  # Sphinx's "previous | next | index" bars
        "footer",
        "toctree-wrapper",  # Sphinx's list of a section's pages
        "indextable",  # Sphinx's general index (genindex)
        "modindextable",
    }
)
# the text of a permalink that lacks the class ("<a href='#x'>¶</a>")
_PERMALINK_TEXT = frozenset({"¶", "#", "§", "🔗"})


def _is_furniture(tag: Tag, name: str) -> bool:
    from bs4.element import NavigableString

    if name in _FURNITURE_TAGS:
        return True
    classes = set(tag.get("class") or ())
    if classes & _FURNITURE_CLASSES or str(tag.get("role", "")).lower() in _FURNITURE_ROLES:
        return True
    if {"contents", "topic"} <= classes:  # docutils' local table of contents, before <nav>
        return True
    # the anchor's one direct string only: hostile pages nest anchors thousands deep
    return (
        name == "a"
        and str(tag.get("href", "")).startswith("#")
        and len(tag.contents) == 1
        and isinstance(tag.contents[0], NavigableString)
        and tag.contents[0].strip() in _PERMALINK_TEXT
    )


class _TextBuilder:
    """Visible text with paragraph breaks at block elements; records where headings start."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.sections: list[Section] = []
        self.pending_break = False
        # an open heading: its "## " marker, written before its first text (an empty heading
        # leaves no trace), then where its text starts
        self.heading_marker: str | None = None
        self.heading_start: int | None = None

    def block_break(self) -> None:
        # Inline whitespace before a block boundary is an artefact of the markup, not text.
        while self.parts and self.parts[-1][-1:].isspace() and not self.pending_break:
            last = self.parts.pop()
            self.length -= len(last)
            last = last.rstrip()
            if last:
                self.parts.append(last)
                self.length += len(last)
                break
        self.pending_break = self.length > 0

    @property
    def at_line_start(self) -> bool:
        return self.length == 0 or self.pending_break or self.parts[-1].endswith((" ", "\n"))

    def add(self, text: str) -> None:
        if not text or (self.heading_marker is not None and not text.strip()):
            return
        if self.pending_break:
            self._append("\n\n")
            self.pending_break = False
        if self.heading_marker is not None:
            # The section starts at the marker, as a Markdown heading's does at its "#".
            self.sections.append(Section(char_start=self.length))
            self._append(self.heading_marker)
            self.heading_marker = None
            self.heading_start = len(self.parts)
            text = text.lstrip()
        self._append(text)

    def open_heading(self, level: int) -> None:
        self.heading_marker = "#" * level + " "
        self.heading_start = None

    def close_heading(self) -> None:
        """Name the section the heading opened after its text as written (one line)."""
        if self.heading_start is not None and self.sections:
            heading = " ".join("".join(self.parts[self.heading_start :]).split())
            self.sections[-1] = Section(char_start=self.sections[-1].char_start, heading=heading)
        self.heading_marker = None
        self.heading_start = None

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


_BLOCK_END = object()  # marks where a block element's children end in `_walk_html`'s stack
_HEADING_END = object()  # marks where a heading's children end


def _walk_html(root: object, out: _TextBuilder) -> None:
    """Depth-first over the tree with an explicit stack: hostile pages nest tags tens of
    thousands deep, which a recursive walk turns into a `RecursionError`."""
    from bs4.element import Comment, NavigableString, Tag

    stack: list[tuple[object, bool]] = [
        (c, False)
        for c in reversed(list(root.children))  # type: ignore[attr-defined]
    ]
    while stack:
        child, preformatted = stack.pop()
        if child is _BLOCK_END:
            out.block_break()
            continue
        if child is _HEADING_END:
            out.close_heading()
            continue
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            s = str(child)
            if not preformatted:
                s = re.sub(r"\s+", " ", s)
                # Leading space at the start of a paragraph is noise.
                if out.at_line_start:
                    s = s.lstrip(" ")
            out.add(s)
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if name in _DROPPED_TAGS or _is_furniture(child, name):
            continue
        block = name in _BLOCK_TAGS
        if block:
            out.block_break()
            stack.append((_BLOCK_END, preformatted))
        if name in _HEADING_TAGS and not preformatted:
            # "## Heading": the heading structure the extractive answer and chunker recognise
            # in Markdown, instead of a bare line indistinguishable from a short sentence.
            out.open_heading(int(name[1]))
            stack.append((_HEADING_END, preformatted))
        inner = preformatted or name == "pre"
        stack.extend((c, inner) for c in reversed(list(child.children)))


def _parse_html(markup: str) -> tuple[str, str | None, list[Section]]:
    from bs4 import BeautifulSoup

    # html.parser: stdlib, lenient and deterministic across machines.
    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else None
    body = soup.body or soup
    out = _TextBuilder()
    _walk_html(body, out)
    out.block_break()
    title = title or next((s.heading for s in out.sections if s.heading), None)
    return out.text(), title, out.sections


# --- pdf -------------------------------------------------------------------------------------

_PAGE_BREAK = "\n\n"


def _parse_pdf(path: Path, data: bytes) -> tuple[str, str | None, list[Section]]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PdfReadError

    # pypdf logs every repair it attempts on damaged files; the reason we report is enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypt_with_empty_password(reader):
            raise BadFileError(
                path, "encrypted PDF", "Remove the password (e.g. print to PDF) and retry."
            )
        pages = list(_page_texts(reader))
        meta = reader.metadata
        title = meta.title if meta and isinstance(meta.title, str) else None
    except BadFileError:
        raise
    except DependencyError as e:
        # A broken install, not a broken file: say which library is missing.
        raise BadFileError(
            path,
            f"PDF needs a missing library ({str(e).strip()[:160]})",
            "Reinstall multistage-rag so its declared dependencies are present.",
        ) from None
    except (PdfReadError, Exception) as e:  # pypdf raises many types on damaged input
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadFileError(path, f"corrupt PDF ({detail[:160]})") from None

    parts: list[str] = []
    sections: list[Section] = []
    length = 0
    for number, page_text in pages:
        if not page_text.strip():
            continue
        if parts:
            parts.append(_PAGE_BREAK)
            length += len(_PAGE_BREAK)
        sections.append(Section(char_start=length, page=number))
        parts.append(page_text)
        length += len(page_text)
    if not parts:
        raise BadFileError(
            path, "PDF has no extractable text (scanned images?)", "Run OCR on it first."
        )
    return "".join(parts), title, sections


def _decrypt_with_empty_password(reader: object) -> bool:
    # Many PDFs are "encrypted" only with an owner password and open in any viewer.
    try:
        return bool(reader.decrypt(""))  # type: ignore[attr-defined]
    except Exception:
        return False


def _page_texts(reader: object) -> Iterator[tuple[int, str]]:
    for number, page in enumerate(reader.pages, start=1):  # type: ignore[attr-defined]
        text = (page.extract_text() or "").replace("\r\n", "\n").replace("\r", "\n")
        yield number, text.strip()
