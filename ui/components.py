"""The Streamlit pieces of the page: an answer with its sources, the sidebar, the upload panel.

Everything here draws data it is given (an `Answer`, `StoreStats`, upload results); what to show
is decided in `ui/markup.py` (escaped HTML) and `ui/evidence.py` (which sentences were used).
Every piece of untrusted text reaches the page through `markup.escape_text` or as plain text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st

from assistant.types import UNCITED_NOTICE, Answer, Source, Timings
from retrieval.encoders import TokenMatch
from retrieval.ingest.pipeline import FileResult
from retrieval.modes import MODES
from ui import markup
from ui.engine import StoreStats
from ui.evidence import used_spans

Aligner = Callable[[str, str], list[TokenMatch]]  # (query, passage text) → matches

# Query tokens that carry no word of the question: drawn in the table, not on the passage.
_SPECIAL_TOKENS = {"[CLS]", "[SEP]", "[MASK]", "[PAD]", "[marker]", "[Q]", "[D]"}
# Material icons ship with Streamlit (emoji depend on the viewer's fonts).
_STATUS_ICON = {
    "ingested": ":green[:material/check_circle:]",
    "unchanged": ":blue[:material/sync_alt:]",
    "skipped": ":orange[:material/skip_next:]",
    "failed": ":red[:material/error:]",
    "pruned": ":gray[:material/delete:]",
}


def html(body: str) -> None:
    """Draw HTML built by `ui.markup` (the only place this page renders raw HTML)."""
    st.markdown(body, unsafe_allow_html=True)


def citation_tooltip(source: Source) -> str:
    where = " · ".join(x for x in (source.source, source.location) if x)
    return f"[{source.number}] {source.title or source.source} — {where}"


def answer_body(text: str, turn: int, sources: Sequence[Source]) -> str:
    """The answer text as HTML with `[n]` as links to the sources under it."""
    tooltips = {s.number: citation_tooltip(s) for s in sources}
    return markup.answer_html(text, turn, tooltips)


# --- an answer ---------------------------------------------------------------------------------


def answer_notes(answer: Answer) -> None:
    """The labels under an answer: extractive, refused, cut short, or failed."""
    if answer.extractive and not answer.refused and answer.text:
        st.caption(
            ":material/format_quote: Extractive answer — sentences quoted from the sources "
            "below; no language model is configured (set OPENAI_API_KEY or OPENAI_BASE_URL "
            "for written answers)."
        )
    if answer.cites_nothing:
        st.warning(UNCITED_NOTICE, icon=":material/link_off:")
    if answer.refused:
        detail = ""
        if answer.top_score is not None and answer.threshold is not None:
            detail = f" (best relevance {answer.top_score:.2f}, needed {answer.threshold:.2f})"
        st.caption(
            f":material/search_off: Nothing in the store was relevant enough to answer "
            f"from{detail}."
        )
    if answer.error:
        prefix = "The answer was cut short: " if answer.partial else ""
        st.warning(prefix + markup.escape_markdown(answer.error), icon=":material/warning:")
    if answer.invalid_citations:
        numbers = ", ".join(str(n) for n in answer.invalid_citations)
        st.caption(f"Removed citations to passages that were never sent: {numbers}.")


def sources_panel(answer: Answer, turn: int, aligner: Aligner | None) -> None:
    """Cited sources in full; retrieved-but-uncited ones (and refused passages) collapsed."""
    query = answer.standalone_question
    if answer.sources:
        html('<div class="msrag-sources-title">Sources</div>')
        for source in answer.sources:
            source_card(source, turn, query, aligner, cited=True)
    others = list(answer.uncited)
    if answer.refused and answer.omitted:
        others = [Source.from_passage(i, p) for i, p in enumerate(answer.omitted, start=1)]
    if others:
        label = (
            f"Retrieved but not cited ({len(others)})"
            if not answer.refused
            else f"Retrieved passages ({len(others)}) — too weak to answer from"
        )
        # an answer citing nothing is checked against these: show them open
        with st.expander(label, expanded=answer.cites_nothing):
            for source in others:
                source_card(source, turn, query, aligner, cited=False)


def source_card(
    source: Source, turn: int, query: str, aligner: Aligner | None, *, cited: bool
) -> None:
    """Number, title, source, page/heading, score; the passage with the used sentences marked;
    and the 'Why this passage' alignment view on demand."""
    meta = [source.source]
    if source.location:
        meta.append(source.location)
    # the final stage's score: MaxSim for a rerank, the fused value for a fusion mode
    meta.append(f"score {source.score:.3f} · rank {source.rank}")
    if source.truncated:
        meta.append("shortened to fit")
    anchor = markup.anchor_id(turn, source.number) if cited else ""
    title = markup.escape_text(source.title or source.source)
    html(
        f'<div class="msrag-source-head"{f" id={chr(34)}{anchor}{chr(34)}" if anchor else ""}>'
        f"&#91;{source.number}&#93; {title}</div>"
        f'<div class="msrag-source-meta">{markup.escape_text(" · ".join(meta))}</div>'
    )
    key = f"why-{turn}-{source.number}-{'c' if cited else 'u'}"
    why = aligner is not None and st.toggle(
        "Why this passage", key=key, help="Which passage token each query token matched best"
    )
    if why and aligner is not None:
        alignment_view(source.text, aligner(query, source.text))
    else:
        spans = used_spans(source.text, source.sentences) if cited else []
        html(f'<div class="msrag-passage">{markup.highlighted(source.text, spans)}</div>')


def alignment_view(text: str, matches: Sequence[TokenMatch]) -> None:
    """The passage shaded by MaxSim alignment (strongest darkest) and the per-token table."""
    words = [
        m
        for m in matches
        if m.end > m.start
        and m.query_token not in _SPECIAL_TOKENS
        and any(c.isalnum() for c in m.query_token)
    ]
    if words:
        low = min(m.score for m in words)
        high = max(m.score for m in words)
        spread = high - low or 1.0
        spans = [
            (m.start, m.end, (m.score - low) / spread, f"{m.query_token} · {m.score:.2f}")
            for m in words
        ]
    else:
        spans = []
    html(f'<div class="msrag-passage msrag-why">{markup.heat_html(text, spans)}</div>')
    total = sum(m.score for m in matches)
    st.caption(
        f"Each query token's best-matching passage token (darker = higher cosine; hover for "
        f"the score). MaxSim = sum of the best cosines = {total:.2f} over {len(matches)} tokens."
    )
    rows = [
        {
            "query token": m.query_token,
            "matched text": text[m.start : m.end] if m.end > m.start else "(special token)",
            "cosine": round(m.score, 3),
        }
        for m in matches
    ]
    st.dataframe(rows, hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 300))


# --- sidebar -----------------------------------------------------------------------------------


def store_panel(stats: StoreStats, llm_label: str) -> None:
    col1, col2 = st.columns(2)
    col1.metric("Documents", f"{stats.documents:,}")
    col2.metric("Chunks", f"{stats.chunks:,}")
    lines = [
        f"**Engine:** {markup.escape_markdown(stats.where)}",
        f"**LLM:** {markup.escape_markdown(llm_label)}",
        "**Models:** " + ", ".join(f"{kind} `{name}`" for kind, name in stats.models.items()),
    ]
    st.markdown("  \n".join(lines))


def retrieval_controls(default_mode: str, default_top_k: int) -> tuple[str, int]:
    """Mode and top-k for this tab's next questions."""
    modes = list(MODES)
    mode = st.selectbox(
        "Retrieval mode",
        modes,
        index=modes.index(default_mode) if default_mode in modes else 0,
        key="mode",
        help="Prefetch (dense, BM25 or both fused) and whether ColBERT MaxSim reranks.",
    )
    top_k = st.number_input("Passages (top-k)", 1, 50, default_top_k, key="top_k")
    return str(mode), int(top_k)


def timings_panel(timings: Timings | None) -> None:
    st.markdown("**Last answer**")
    if timings is None:
        st.caption("No question asked yet.")
        return
    rows = [
        ("condense", timings.condense_ms),
        ("retrieve", timings.retrieve_ms),
        ("generate", timings.generate_ms),
        ("first token", timings.first_token_ms),
        ("total", timings.total_ms),
    ]
    st.markdown("  \n".join(f"{name}: **{ms:,.0f} ms**" for name, ms in rows))


def upload_results(results: Sequence[FileResult]) -> None:
    for r in results:
        icon = _STATUS_ICON.get(r.status, "•")
        if r.status in ("ingested", "unchanged"):
            detail = f"{r.chunks} chunk{'s' if r.chunks != 1 else ''}"
        else:
            detail = r.reason or ""
        st.markdown(
            f"{icon} {markup.escape_markdown(Path(r.path).name)} — {r.status}"
            + (f": {markup.escape_markdown(detail)}" if detail else "")
        )
