"""Running a suite: every case through the real assistant, checked in three layers.

- **prompt**: the messages sent to the model (the condense request of a follow-up, then the
  answer request) against `<goldens>/<id>.prompt.txt`;
- **retrieval**: the passages retrieved, ids in rank order, against `<goldens>/<id>.retrieval.txt`,
  plus `must_retrieve`;
- **answer**: `must_cite`, `must_contain`, `must_not_contain`, `must_refuse` on the answer.

The model is chosen by `llm` (an `LLMMode`): `replay` answers from the suite's cassette
(deterministic, offline; a request with no recording fails the case, it is never sent), `live`
calls the configured endpoint (and with `record=True` writes the cassette), `off` checks the
extractive answer. Without a configured model, `live` is the same as `off`.

    suite = load_suite("examples/regress/cases.yaml")
    with RegressionRunner(suite, RegressSettings()) as runner:
        report = runner.run()
    report.ok, report.summary()
    # -> (True, '12 cases, 36 checks: 36 passed in 4.1 s (replay)')
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from assistant.chat import Assistant
from assistant.types import Answer, ChatMessage
from regress.cases import Case, Suite, load_suite, pinned_settings
from regress.cassette import MISS_KIND, Cassette, RecordingLLM, ReplayLLM
from regress.corpus import corpus_chunks, corpus_settings, sync_corpus
from regress.errors import RegressError
from regress.expectations import check_answer, check_retrieval
from regress.golden import Comparison, GoldenStore, render_prompt, render_retrieval
from regress.llm_mode import LLMMode
from regress.settings import RegressSettings
from retrieval.errors import MsragError
from retrieval.types import Filter

if TYPE_CHECKING:
    from assistant.llm import ChatLLM, LLMClient

LAYERS = ("prompt", "retrieval", "answer")
Status = Literal["pass", "fail", "changed", "error", "skipped"]
FAILING: frozenset[str] = frozenset({"fail", "changed", "error"})

__all__ = [
    "CaseResult",
    "LayerResult",
    "RegressError",
    "RegressionRunner",
    "RunReport",
    "load_suite",
    "run_suite",
]


@dataclass
class LayerResult:
    """One layer of one case: `status` (pass, fail, changed, error, skipped), why, and a diff."""

    layer: str
    status: Status
    reason: str = ""
    diff: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILING


@dataclass
class CaseResult:
    case: Case
    layers: list[LayerResult]
    answer: Answer | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(layer.failed for layer in self.layers)

    def layer(self, name: str) -> LayerResult:
        return next(r for r in self.layers if r.layer == name)

    def explain(self) -> str:
        """Every failing layer with its reason and diff (for pytest and logs)."""
        lines = [f"case '{self.case.id}' (line {self.case.line}):"]
        for r in self.layers:
            if r.failed:
                lines.append(f"  {r.layer}: {r.status}: {r.reason}")
                if r.diff:
                    lines.extend("    " + line for line in r.diff.rstrip("\n").splitlines())
        return "\n".join(lines)


@dataclass
class RunReport:
    suite: Suite
    llm: str
    results: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0
    update: bool = False
    record: bool = False

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def counts(self) -> dict[str, int]:
        counts = {s: 0 for s in ("pass", "changed", "fail", "error", "skipped")}
        for result in self.results:
            for layer in result.layers:
                counts[layer.status] += 1
        return counts

    def explain(self) -> str:
        """Every failing case with its reasons and diffs, then the summary line."""
        failing = [r.explain() for r in self.results if not r.ok]
        return "\n\n".join([*failing, self.summary()])

    def summary(self) -> str:
        c = self.counts()
        checks = sum(c.values())
        parts = [f"{c['pass']} passed"] + [
            f"{c[s]} {s}" for s in ("changed", "fail", "error") if c[s]
        ]
        if c["skipped"]:
            parts.append(f"{c['skipped']} skipped")
        failing = sum(not r.ok for r in self.results)
        verdict = f"{failing} of {len(self.results)} cases failing" if failing else "all cases pass"
        mode = (
            self.llm
            + (", recorded" if self.record else "")
            + (", goldens updated" if self.update else "")
        )
        return (
            f"{len(self.results)} cases, {checks} checks: {', '.join(parts)} — {verdict} "
            f"in {self.seconds:.1f} s ({mode})"
        )


class _SearchLog:
    """The retriever as the assistant sees it, keeping each search result for the report."""

    def __init__(self, retriever: Any) -> None:
        self.retriever = retriever
        self.encoders = getattr(retriever, "encoders", None)
        self.calls: list[tuple[Any, int]] = []

    def relevance(self, query: str, texts: Sequence[str]) -> list[float]:
        return [float(x) for x in self.retriever.relevance(query, texts)]

    def search(
        self,
        query: str,
        *,
        mode: str | None = None,
        top_k: int | None = None,
        filter: Filter | None = None,
        relevance: bool = False,
    ) -> Any:
        result = self.retriever.search(
            query, mode=mode, top_k=top_k, filter=filter, relevance=relevance
        )
        self.calls.append((result, top_k if top_k is not None else self.retriever.top_k))
        return result


class RegressionRunner:
    """Runs the cases of one suite; open once (models, store, documents), run many cases.

        runner = RegressionRunner(suite, settings, llm="replay")
        runner.open()
        runner.run_case(suite.cases[0]).ok
        # -> True
        runner.close()

    `encoders` / `retriever` may be given to share already loaded models (tests, notebooks).
    """

    def __init__(
        self,
        suite: Suite,
        settings: RegressSettings,
        *,
        llm: LLMMode | str = LLMMode.REPLAY,
        record: bool = False,
        update: bool = False,
        encoders: Any = None,
        retriever: Any = None,
    ) -> None:
        try:
            mode = LLMMode(llm)
        except ValueError:
            choices = ", ".join(LLMMode)
            raise RegressError(f"--llm must be one of {choices}; got {llm!r}.") from None
        if record and mode is not LLMMode.LIVE:
            raise RegressError(
                "--record writes the cassette from live answers: use it with --llm live."
            )
        self.suite = suite
        self.settings = pinned_settings(settings, suite)
        if suite.documents:
            self.settings = corpus_settings(self.settings, suite.suite_name)
        if record and not self.settings.llm_configured:
            raise RegressError(
                "--record needs a language model: set OPENAI_BASE_URL (and OPENAI_API_KEY if the "
                "server wants one) to the endpoint to record from."
            )
        self.llm_mode = mode
        self.record = record
        self.update = update
        self.goldens = GoldenStore(suite.goldens_dir, update=update)
        self._encoders = encoders
        self._retriever = retriever
        self._owns_retriever = retriever is None
        self.cassette: Cassette | None = None
        self._live: LLMClient | None = None
        self._recorded: set[str] = set()

    # --- lifecycle -------------------------------------------------------------------------

    def open(self) -> RegressionRunner:
        try:
            return self._open()
        except BaseException:
            self.close()  # the embedded store holds a lock until closed
            raise

    def _open(self) -> RegressionRunner:
        if self.llm_mode is LLMMode.REPLAY:
            self.cassette = Cassette.load(self.suite.cassette_path)
        elif self.record:
            self.cassette = Cassette.load_or_empty(self.suite.cassette_path)
        if self.llm_mode is LLMMode.LIVE and self.settings.llm_configured:
            from assistant.llm import LLMClient

            self._live = LLMClient(self.settings)
        if self._retriever is None:
            from retrieval.retriever import MultiStageRetriever

            self._retriever = MultiStageRetriever.from_settings(
                self.settings, encoders=self._encoders
            )
        if self.suite.documents:
            chunks = corpus_chunks(self.suite.document_paths, self.settings)
            sync_corpus(chunks, self._retriever.store, self._retriever.encoders)
        return self

    def close(self) -> None:
        if self.record and self.cassette is not None and self._recorded:
            if self._recorded >= {c.id for c in self.suite.cases}:
                # a full recording also forgets cases that left the suite
                for stale in set(self.cassette.cases) - self._recorded:
                    del self.cassette.cases[stale]
            self.cassette.save()
        if self._live is not None:
            self._live.close()
            self._live = None
        if self._owns_retriever and self._retriever is not None:
            self._retriever.close()
            self._retriever = None

    def __enter__(self) -> RegressionRunner:
        return self.open()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- running ---------------------------------------------------------------------------

    def select(self, patterns: Sequence[str] | None) -> list[Case]:
        """The cases whose id matches any of the glob `patterns` (all without patterns)."""
        if not patterns:
            return list(self.suite.cases)
        chosen = [
            c for c in self.suite.cases if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)
        ]
        if not chosen:
            raise RegressError(
                f"No case id in {self.suite.path} matches {', '.join(patterns)}: the ids are "
                f"{', '.join(c.id for c in self.suite.cases)}."
            )
        return chosen

    def run(self, only: Sequence[str] | None = None) -> RunReport:
        started = time.perf_counter()
        report = RunReport(self.suite, self.llm_name, update=self.update, record=self.record)
        for case in self.select(only):
            report.results.append(self.run_case(case))
        report.seconds = time.perf_counter() - started
        return report

    @property
    def llm_name(self) -> str:
        live, configured = self.llm_mode is LLMMode.LIVE, self.settings.llm_configured
        if live and self._live is None and not configured:
            return "live (no model configured: extractive)"
        return self.llm_mode.value

    def run_case(self, case: Case) -> CaseResult:
        if self._retriever is None:
            raise RegressError("Open the runner first: `with RegressionRunner(...) as runner:`.")
        started = time.perf_counter()
        searches = _SearchLog(self._retriever)
        llm = self._llm_for(case)
        if case.history and llm is None:
            # a follow-up is rewritten into a standalone question by the model: with none, the
            # turn would search for "When was she born?" and every layer would differ
            reason = "a follow-up needs a language model to be condensed (--llm replay or live)"
            layers = [LayerResult(name, "skipped", reason) for name in LAYERS]
            return CaseResult(case, layers, None, time.perf_counter() - started)
        assistant = Assistant(self.settings, searches, llm=llm)
        try:
            answer = assistant.ask(
                case.question,
                [m.model_dump() for m in case.history],
                mode=case.mode,
                top_k=case.top_k,
            )
        except MsragError as exc:
            reason = f"the turn failed: {exc}"
            layers = [LayerResult(name, "error", reason) for name in LAYERS]
            return CaseResult(case, layers, None, time.perf_counter() - started)
        layers = [
            self._prompt_layer(case, assistant, answer),
            self._retrieval_layer(case, searches),
            self._answer_layer(case, answer),
        ]
        return CaseResult(case, layers, answer, time.perf_counter() - started)

    def _llm_for(self, case: Case) -> ChatLLM | None:
        if self.llm_mode is LLMMode.OFF:
            return None
        if self.llm_mode is LLMMode.REPLAY:
            assert self.cassette is not None
            return ReplayLLM(self.cassette, case.id, model=self.settings.llm_model)
        if self._live is None:
            return None  # live without a configured model: extractive
        if self.record:
            assert self.cassette is not None
            self.cassette.start_recording(case.id)
            self._recorded.add(case.id)
            return RecordingLLM(self._live, self.cassette, case.id)
        return self._live

    # --- layers ----------------------------------------------------------------------------

    def _prompt_layer(self, case: Case, assistant: Assistant, answer: Answer) -> LayerResult:
        condense = answer.condense_messages
        if not condense and case.history and assistant.llm is not None:
            # the condense call itself failed: show what was sent
            condense = assistant.condense_messages(
                case.question, [ChatMessage(m.role, m.content) for m in case.history]
            )
        text = render_turn_prompt(condense, answer)
        if answer.error and not answer.messages and not answer.refused:
            diff = self.goldens.diff(case.id, "prompt", text)
            return LayerResult(
                "prompt",
                "error",
                f"the turn stopped before the answer prompt: {answer.error}",
                diff,
            )
        return _from_comparison("prompt", self.goldens.compare(case.id, "prompt", text))

    def _retrieval_layer(self, case: Case, searches: _SearchLog) -> LayerResult:
        if not searches.calls:
            return LayerResult("retrieval", "skipped", "no search ran (the turn stopped before it)")
        result, top_k = searches.calls[-1]
        text = render_retrieval(result.query, result.mode, top_k, result.passages)
        golden = _from_comparison("retrieval", self.goldens.compare(case.id, "retrieval", text))
        problems = check_retrieval(case, result.passages)
        if problems:
            reason = "; ".join(problems)
            if golden.status == "changed":
                reason += f"; {golden.reason}"
            return LayerResult("retrieval", "fail", reason, golden.diff)
        return golden

    def _answer_layer(self, case: Case, answer: Answer) -> LayerResult:
        if answer.error_kind == MISS_KIND:
            return LayerResult("answer", "error", answer.error or "no recorded answer")
        if answer.error:
            return LayerResult("answer", "error", f"the model call failed: {answer.error}")
        problems = check_answer(case, answer)
        if problems:
            return LayerResult("answer", "fail", "; ".join(problems))
        kind = "refused" if answer.refused else ("extractive" if answer.extractive else "answered")
        cited = ", ".join(dict.fromkeys(s.source for s in answer.sources))
        return LayerResult("answer", "pass", f"{kind}" + (f", cites {cited}" if cited else ""))


def render_turn_prompt(condense: Sequence[dict[str, str]], answer: Answer) -> str:
    """The prompt golden of one turn: the condense request (if any), then the answer request."""
    parts = []
    if condense:
        parts.append("##### condense request #####\n" + render_prompt(condense))
    parts.append("##### answer request #####\n")
    if answer.messages:
        parts[-1] += render_prompt(answer.messages)
    elif answer.refused:
        parts[-1] += "(none: the retrieval was too weak to answer, the assistant refused)\n"
    else:
        parts[-1] += "(none)\n"
    return "".join(parts)


def _from_comparison(layer: str, comparison: Comparison) -> LayerResult:
    name = comparison.path.name
    if comparison.outcome == "same":
        return LayerResult(layer, "pass", f"matches {name}")
    if comparison.outcome == "new":
        return LayerResult(layer, "pass", f"new golden written: {name}")
    if comparison.outcome == "updated":
        return LayerResult(layer, "pass", f"change accepted into {name}", comparison.diff)
    if comparison.outcome == "missing":
        return LayerResult(
            layer, "fail", f"no stored golden {name}: review this run and accept it with --update"
        )
    added, removed = _diff_size(comparison.diff)
    return LayerResult(
        layer,
        "changed",
        f"differs from {name} (+{added} −{removed} lines; --update accepts)",
        comparison.diff,
    )


def _diff_size(diff: str) -> tuple[int, int]:
    lines = diff.splitlines()
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return added, removed


def run_suite(
    path: str,
    settings: RegressSettings,
    *,
    llm: LLMMode | str = LLMMode.REPLAY,
    record: bool = False,
    update: bool = False,
    only: Iterable[str] | None = None,
    encoders: Any = None,
) -> RunReport:
    """Load, open, run and close in one call."""
    suite = load_suite(path)
    with RegressionRunner(
        suite, settings, llm=llm, record=record, update=update, encoders=encoders
    ) as runner:
        return runner.run(list(only) if only else None)
