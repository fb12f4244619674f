"""Upload names, fuzzed: whatever the browser sends, the file lands inside the upload folder."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ui.uploads import safe_name

names = st.text(max_size=1_200) | st.sampled_from(
    [
        "../../etc/passwd",
        "..",
        ".",
        "/",
        "a/../../b.md",
        "C:\\Windows\\x.txt",
        "x\x00.md",
        "é" * 1_000 + ".md",
        "a" * 1_000 + ".pdf",
        " .md",
        "...",
        "\u202egnp.md",
        "con.txt",
    ]
)


@settings(max_examples=300, deadline=None)
@given(name=names)
def test_any_name_is_one_safe_file_inside_the_upload_folder(name: str, tmp_path_factory) -> None:
    clean = safe_name(name)
    assert clean and clean not in (".", "..")
    assert "/" not in clean and "\\" not in clean and "\x00" not in clean
    assert len(clean.encode("utf-8")) <= 200  # fits a file-system name
    folder = tmp_path_factory.getbasetemp() / "uploads"
    assert (folder / clean).resolve().parent == folder.resolve()


def test_names_keep_their_type_when_shortened(tmp_path: Path) -> None:
    for name in ("é" * 1_000 + ".md", "a" * 1_000 + ".pdf", "../../" + "b" * 300 + ".html"):
        clean = safe_name(name)
        assert clean.endswith(Path(name).suffix) and len(clean.encode()) <= 200
        (tmp_path / clean).write_text("stored")  # the file system accepts it
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("x\x00.md") == "x_.md"
