"""The scripted model the example suite's cassette was recorded from, and the recording itself.

`demo_reply` reads a request the way a model would: for a condense request it rewrites the known
follow-up; for an answer request it looks the question up in `ANSWERS` and cites, for each
sentence, the passage (by its number in *this* prompt) that contains the sentence's evidence.
So the recorded answers depend on the real retrieval and packing, as a real model's would, and
a sentence whose evidence is not in the passages becomes "The passages do not say …".

Re-record the example cassette (after a deliberate prompt or retrieval change):

    python3 -m tests.regress.demo_llm   # writes examples/regress/demo.cassette.json and goldens
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.llm_server import Reply, ScriptedLLM

MODEL = "scripted-demo"  # the example suite pins llm_model to this name
EXAMPLE_SUITE = Path(__file__).resolve().parents[2] / "examples" / "regress" / "cases.yaml"

# question → (sentence, evidence that must be in the cited passage)
ANSWERS: dict[str, list[tuple[str, str]]] = {
    "When was Ada Lovelace born?": [
        ("Ada Lovelace was born on 10 December 1815 in London.", "10 December 1815"),
    ],
    "What did Ada Lovelace's Note G describe?": [
        (
            "Note G describes a method for computing Bernoulli numbers with the Analytical Engine.",
            "Bernoulli numbers",
        ),
        (
            "It is widely considered the first published computer program.",
            "first published computer program",
        ),
    ],
    "How many days of paid holiday do Northwind Kites employees get?": [
        (
            "Every full-time employee gets 27 days of paid holiday per year, plus public holidays.",
            "27 days of paid holiday",
        ),
    ],
    "How much are meals on business trips reimbursed per day at Northwind Kites?": [
        ("Meals on business trips are reimbursed up to 45 euros per day.", "reimbursed up to 45"),
    ],
    "Where in a plant does photosynthesis take place?": [
        (
            "Photosynthesis takes place in the chloroplasts, mostly in the cells of the leaf "
            "mesophyll.",
            "leaf mesophyll",
        ),
    ],
    "How hot should the oven be to bake the country sourdough loaf?": [
        (
            "Preheat the oven to 250 degrees Celsius with a Dutch oven inside; after 20 "
            "minutes with the lid on, lower it to 230 degrees for the last 20 to 25 minutes.",
            "250 degrees",
        ),
    ],
    "What water temperature is right for brewing sencha?": [
        (
            "Brew sencha with water at 70 to 80 degrees Celsius and steep it for 60 seconds.",
            "70 to 80 degrees",
        ),
    ],
    "When was the Skerryvore Point lighthouse first lit?": [
        ("The lamp was first lit on 1 February 1844.", "1 February 1844"),
    ],
    "How often should the pothos in the office be watered?": [
        ("Water the pothos once a week, on Mondays.", "pothos once a week"),
    ],
    "What altitude did the Zephyr-9 weather balloon reach?": [
        (
            "The Zephyr-9 weather balloon reached an altitude of 38.2 kilometres on its maiden "
            "flight in 2021.",
            "38.2 kilometres",
        ),
    ],
    "Who were Ada Lovelace's tutors?": [
        (
            "Her tutors included the logician Augustus De Morgan and the scientist Mary "
            "Somerville.",
            "Augustus De Morgan",
        ),
    ],
}
FOLLOW_UPS = {"When was she born?": "When was Ada Lovelace born?"}

_PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


def demo_reply(body: dict[str, Any]) -> Reply:
    """The scripted model: a function of the request only, so recordings are repeatable."""
    messages = body.get("messages") or []
    prompt = messages[-1]["content"] if messages else ""
    follow_up = re.search(r"^Follow-up question: (.*)$", prompt, re.MULTILINE)
    if follow_up:
        question = follow_up.group(1).strip()
        return Reply(FOLLOW_UPS.get(question, question))
    found = re.search(r"^Question: (.*)$", prompt, re.MULTILINE)
    question = found.group(1).strip() if found else ""
    passages = [(int(n), " ".join(text.split())) for n, text in _PASSAGE.findall(prompt)]
    sentences = []
    for sentence, evidence in ANSWERS.get(question, []):
        number = next((n for n, text in passages if evidence.lower() in text.lower()), None)
        if number is None:
            return Reply(f"The passages do not say: {question[0].lower() + question[1:]}")
        sentences.append(f"{sentence[:-1]} [{number}].")
    if not sentences and passages:  # a question the script does not know: quote passage 1
        first = re.split(r"(?<=[.!?])\s", passages[0][1], maxsplit=1)[0]
        sentences.append(f"{first.rstrip('.')} [{passages[0][0]}].")
    return Reply(" ".join(sentences) or "The passages do not say.")


def record_example(settings: Any, suite_path: Path = EXAMPLE_SUITE, *, update: bool = True) -> Any:
    """Run the suite live against the scripted model, recording its cassette; returns the report."""
    from regress.cases import load_suite
    from regress.runner import RegressionRunner

    with ScriptedLLM(models=[MODEL], default=demo_reply) as server:
        live = settings.model_copy(update={"openai_base_url": server.url})
        with RegressionRunner(
            load_suite(suite_path), live, llm="live", record=True, update=update
        ) as runner:
            return runner.run()


def main() -> None:  # python3 -m tests.regress.demo_llm
    from retrieval.ingest.offline import assemble_offline_models
    from tests.conftest import MODELS_CACHE, make_settings

    models = assemble_offline_models(MODELS_CACHE)
    data = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()) / "msrag-regress-demo"
    report = record_example(make_settings(models, data))
    print(report.summary())
    for result in report.results:
        if not result.ok:
            print(result.explain())


if __name__ == "__main__":
    main()
