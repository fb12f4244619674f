"""Write the demo corpus' PDF (examples/docs/lighthouse_history.pdf) from raw PDF syntax.

No PDF library is needed to *write* a text-only PDF: a page is a content stream of `Tj` operators
in a standard Type 1 font. The tests use `pdf_bytes` too, to make PDFs with known page texts.

    python3 examples/make_pdf.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

LIGHTHOUSE_PAGES = [
    """The Skerryvore Point Lighthouse: a short history

The Skerryvore Point Lighthouse stands on a granite reef four miles off the fictional coast of
Carran Bay. Construction began in 1838 under the engineer Miriam Talbot and took six summers,
because the reef is only above water at low tide. The tower is 48 metres tall and was built from
4,308 interlocking granite blocks, each cut on shore and shipped out by barge.

The lamp was first lit on 1 February 1844. Its original light used thirteen oil lamps behind a
rotating glass lens, giving one white flash every 30 seconds, visible for 18 nautical miles.""",
    """Keepers and automation

Three keepers lived in the tower at any time, working four-hour watches. The longest-serving
keeper, Angus MacRae, tended the light for 31 years, from 1889 to 1920, and kept a diary of every
storm. In 1954 a fire destroyed the lantern room; the light was restored within eleven weeks.

The lighthouse was electrified in 1962 and fully automated in 1994, when the last keepers left.
Today a solar-powered LED lantern flashes white every 10 seconds, and the keepers' cottages on
shore are a small museum open from April to October.""",
]


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content_stream(text: str) -> bytes:
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        lines.extend(textwrap.wrap(" ".join(paragraph.split()), 90) or [""])
        lines.append("")
    ops = ["BT", "/F1 10 Tf", "13 TL", "50 790 Td"]
    ops += [f"({_escape(line)}) Tj T*" for line in lines]
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def pdf_bytes(pages: list[str], title: str | None = None) -> bytes:
    """A valid PDF whose pages show `pages` (ASCII/Latin-1 text) in Helvetica."""
    objects: list[bytes] = []
    n_pages = len(pages)
    # 1 catalog, 2 page tree, 3 font, 4 info, then (page, content) pairs.
    kids = " ".join(f"{5 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    info = f"<< /Title ({_escape(title)}) >>" if title else "<< >>"
    objects.append(info.encode("latin-1"))
    for i, text in enumerate(pages):
        content = _content_stream(text)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {6 + 2 * i} 0 R >>".encode()
        )
        objects.append(
            f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 4 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def main() -> None:
    target = Path(__file__).parent / "docs" / "lighthouse_history.pdf"
    target.write_bytes(pdf_bytes(LIGHTHOUSE_PAGES, title="The Skerryvore Point Lighthouse"))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
