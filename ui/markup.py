"""HTML for the page, built so that document and model text can only ever be displayed as text.

Everything the page draws with `unsafe_allow_html` comes from here. Untrusted text (passages,
titles, sources, answers) goes through `escape_text`, which HTML-escapes it and also turns every
character Streamlit's markdown would act on (links, emphasis, math, emoji shortcodes, colour
directives) into a numeric character reference: a passage holding `<script>`, `<img onerror=…>`
or `[x](javascript:…)` is shown as those characters and nothing runs or links. Our own markup
(citation links, highlights) is added around escaped text, never inside it.

>>> escape_text("<b>[x](javascript:alert(1))</b>")
'&lt;b&gt;&#91;x&#93;&#40;javascript&#58;alert&#40;1&#41;&#41;&lt;/b&gt;'
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

# Characters markdown/remark (GFM, math, directives, emoji shortcodes) would interpret.
_MARKDOWN_ACTIVE = "\\`*_{}[]()#+-!|~$:<>"
# Applied after `html.escape(quote=False)`, whose output holds no '#', so nothing is escaped twice;
# quotes are escaped here too, for attribute values.
_ENTITY = {ord(c): f"&#{ord(c)};" for c in _MARKDOWN_ACTIVE + "\"'" if c not in "<>"}
# [n] markers as the assistant normalises them: one number per bracket.
_MARKER = re.compile(r"\[(\d+)\]")
_BULLET = re.compile(r"^([ \t]*)[-*][ \t]+", re.MULTILINE)
_SINGLE_NEWLINE = re.compile(r"(?<!\n)\n(?!\n)")


def escape_text(text: str) -> str:
    """Text safe to place anywhere in an HTML block rendered by `st.markdown(unsafe_allow_html)`.

    Newlines become `<br>` so a blank line in the text cannot end the HTML block and drop the
    rest back into markdown parsing.
    """
    escaped = html.escape(text, quote=False).translate(_ENTITY)
    return escaped.replace("\r\n", "\n").replace("\n", "<br>")


def reflow(text: str) -> str:
    """Hard-wrapped lines (PDF, plain text) joined: a lone newline becomes a space. Same length,
    so character spans into the original text still point at the same characters."""
    return _SINGLE_NEWLINE.sub(" ", text)


def escape_markdown(text: str) -> str:
    """Text for plain markdown (`st.markdown` without HTML, `st.error`, `st.caption`): shown as
    typed — markdown syntax and HTML tags in it do nothing."""
    return html.escape(text, quote=False).translate(_ENTITY)


def escape_attribute(text: str) -> str:
    """Text for an attribute value (a tooltip): one line, quotes escaped."""
    return html.escape(" ".join(text.split()), quote=False).translate(_ENTITY)


def anchor_id(turn: int, number: int) -> str:
    """The element id of source `number` under answer `turn` (what a citation link points at)."""
    return f"msrag-t{turn}-s{number}"


def citation_link(turn: int, number: int, tooltip: str) -> str:
    """A superscript `[n]` that links to source n below and names it on hover."""
    return (
        f'<sup class="msrag-cite"><a href="#{anchor_id(turn, number)}" '
        f'title="{escape_attribute(tooltip)}">&#91;{number}&#93;</a></sup>'
    )


def answer_html(text: str, turn: int, tooltips: dict[int, str]) -> str:
    """The answer with each valid `[n]` marker as a citation link; everything else escaped.

    `tooltips` maps the valid source numbers to their hover text; a marker for any other
    number stays plain (escaped) text.
    """
    # Answers are shown as text (they may quote documents); only list bullets get a real glyph.
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    parts: list[str] = []
    last = 0
    for m in _MARKER.finditer(text):
        number = int(m.group(1))
        if number not in tooltips:
            continue
        parts.append(escape_text(text[last : m.start()].rstrip(" ")))
        parts.append(citation_link(turn, number, tooltips[number]))
        last = m.end()
    parts.append(escape_text(text[last:]))
    return f'<div class="msrag-answer">{"".join(parts)}</div>'


def highlighted(text: str, spans: Iterable[tuple[int, int]], css_class: str = "msrag-used") -> str:
    """`text` escaped and reflowed, each (start, end) span wrapped in `<mark>` (may overlap)."""
    text = reflow(text)
    merged: list[list[int]] = []
    for start, end in sorted((max(0, a), min(len(text), b)) for a, b in spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    last = 0
    for start, end in merged:
        parts.append(escape_text(text[last:start]))
        parts.append(f'<mark class="{css_class}">{escape_text(text[start:end])}</mark>')
        last = end
    parts.append(escape_text(text[last:]))
    return "".join(parts)


def heat_html(text: str, spans: Sequence[tuple[int, int, float, str]]) -> str:
    """`text` escaped with alignment spans shaded by strength: strongest darkest.

    `spans` are (start, end, strength in [0, 1], tooltip); where spans overlap the strongest
    wins. Strength sets the background opacity, so the eye finds the best matches first.
    """
    text = reflow(text)
    best: dict[tuple[int, int], tuple[float, list[str]]] = {}
    for start, end, strength, tip in spans:
        if end <= start:
            continue
        strength_, tips = best.get((start, end), (0.0, []))
        best[(start, end)] = (max(strength_, strength), [*tips, tip])
    parts: list[str] = []
    last = 0
    for (start, end), (strength, tips) in sorted(best.items()):
        if start < last:  # tokens never overlap; guard against odd tokeniser offsets anyway
            continue
        parts.append(escape_text(text[last:start]))
        alpha = 0.12 + 0.78 * min(max(strength, 0.0), 1.0)
        color = "#ffffff" if alpha > 0.6 else "inherit"
        parts.append(
            f'<span class="msrag-heat" style="background: rgba(214, 90, 0, {alpha:.2f}); '
            f'color: {color}" title="{escape_attribute(" · ".join(tips))}">'
            f"{escape_text(text[start:end])}</span>"
        )
        last = end
    parts.append(escape_text(text[last:]))
    return "".join(parts)


# Page-wide styles for the classes above (sent once per run; Streamlit dedupes nothing, it's tiny).
STYLE = """<style>
.msrag-cite a { text-decoration: none; font-weight: 600; padding: 0 1px; }
.msrag-cite a:hover { text-decoration: underline; }
mark.msrag-used { background: #fff2a8; color: inherit; padding: 0 1px; border-radius: 2px; }
.msrag-passage { font-size: 0.92rem; line-height: 1.55; white-space: normal;
  border-left: 3px solid rgba(128,128,128,.35); padding: 0.25rem 0 0.25rem 0.75rem; }
.msrag-heat { border-radius: 2px; padding: 0 1px; }
.msrag-sources-title { font-weight: 700; margin-top: 0.5rem; font-size: 1.05rem; }
.msrag-source-head { font-weight: 600; scroll-margin-top: 4rem; margin-top: 0.6rem; }
.msrag-source-head:target { background: #fff2a8; }
.msrag-source-meta { font-size: 0.82rem; opacity: 0.7; }
</style>"""
