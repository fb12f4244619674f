"""The real thing: `streamlit run ui/app.py` driven by Debian's Chromium through Playwright.

Asks about the demo documents, follows a citation link, opens the alignment view, uploads a
file, checks the XSS test page renders inert, and leaves a screenshot in tests/artifacts/.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DEMO_DOCS
from tests.ui.conftest import REPO, page_env
from tests.ui.page_server import ARTIFACTS, CHROMIUM, chromium, serve_page, wait_idle

QUESTION = "How high did the Zephyr-9 balloon reach?"

pytestmark = pytest.mark.browser


@pytest.fixture
def server(offline_model_dirs, page_data: Path, tmp_path: Path) -> Iterator[str]:
    """The page served on a free local port, over a store pre-ingested with the demo docs
    (ingested before the server starts: the embedded store admits one process)."""
    with serve_page(page_env(offline_model_dirs, page_data), tmp_path) as served:
        yield served.url


def _nav(page, title: str) -> None:  # noqa: ANN001 - playwright Page
    """Switch page with the sidebar navigation (same session, as a user does)."""
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).first.click()
    wait_idle(page)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_chat_in_a_real_browser(server: str, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    upload = tmp_path / "zephyr_crew.md"
    upload.write_text("# Zephyr-9 crew\n\nThe Zephyr-9 ground crew was led by Ingrid Solberg.\n")
    dialogs: list[str] = []
    with chromium(tmp_path / "profile", height=1000) as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server)
        box = page.get_by_test_id("stChatInputTextArea")
        box.wait_for(timeout=90_000)
        wait_idle(page)
        box.fill(QUESTION)
        box.press("Enter")

        # the streamed answer and its sources
        page.locator("[data-testid=stChatMessage]").nth(1).wait_for(timeout=60_000)
        page.locator(".msrag-source-head").first.wait_for(timeout=60_000)
        wait_idle(page)
        answer = page.locator(".msrag-answer").first
        assert "38.2 kilometres" in answer.inner_text()
        head = page.locator(".msrag-source-head").first.inner_text()
        assert head.startswith("[1]") and "Markup Safety Test Page" in head

        # a citation link leads to its source, in the page
        link = answer.locator(".msrag-cite a").first
        href = link.get_attribute("href")
        assert href and href.startswith("#msrag-t1-s")
        assert "security_test_page.html" in (link.get_attribute("title") or "")
        link.click()
        page.wait_for_function(f"() => location.hash === '{href}'", timeout=5_000)
        assert len(context.pages) == 1  # same tab, no new window
        top, bottom, height = page.locator(href).evaluate(
            "e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom, innerHeight] }"
        )
        assert top >= 0 and bottom <= height

        # the XSS page is shown as text and nothing in it runs or links
        passage = page.locator(".msrag-passage", has_text="Literal payload").first
        seen = passage.inner_text()
        assert "<script>alert(1)</script>" in seen
        assert "<img src=x onerror=alert(1)>" in seen
        assert "[click](javascript:alert(1))" in seen
        assert passage.locator("script, img, a").count() == 0
        assert page.locator("a[href^='javascript' i]").count() == 0
        assert page.locator("img[src='x']").count() == 0
        scripts = page.locator("script").evaluate_all("els => els.map(e => e.textContent)")
        assert not any("alert(" in s or "owned" in s for s in scripts)
        assert page.title() != "owned"

        # "Why this passage" draws the alignment over the cited passage
        page.get_by_text("Why this passage").first.click()
        page.locator(".msrag-heat").first.wait_for(timeout=30_000)
        wait_idle(page)
        assert page.locator(".msrag-heat").count() >= 3

        # upload a file (on the Documents page): a line per file, and the store grows
        _nav(page, "Documents")
        picker = page.locator("[data-testid=stFileUploader] input[type=file]")
        picker.set_input_files(str(upload))
        page.get_by_role("button", name="Add to the store").click()
        page.get_by_text("zephyr_crew.md — ingested").wait_for(timeout=60_000)
        wait_idle(page)
        documents = page.locator("[data-testid=stMetric]", has_text="Documents")
        assert documents.locator("[data-testid=stMetricValue]").inner_text() == "9"

        # the screenshot a reviewer looks at: the answer and its sources in one tall page
        _nav(page, "Chat")
        page.locator(href).wait_for(timeout=60_000)
        wait_idle(page)
        page.set_viewport_size({"width": 1280, "height": 2400})
        page.locator(href).scroll_into_view_if_needed()
        time.sleep(0.8)
        page.screenshot(path=str(ARTIFACTS / "ui_chat.png"), full_page=True)
        assert not dialogs, dialogs


# --- saved conversations, documents, feedback → regression case --------------------------------

SCREENSHOTS = REPO / "docs" / "screenshots"
ASK_ADA = "When was Ada Lovelace born?"
ASK_BALLOON = QUESTION
ASK_SOURDOUGH = "How long should sourdough dough proof?"


def _reply(body: dict) -> str:
    """The scripted model: a standalone question for condense requests, a cited answer else."""
    prompt = body["messages"][-1]["content"]
    if "Standalone question:" in prompt:
        return prompt.rsplit("Follow-up question:", 1)[-1].split("\n")[0].strip()
    if "Zephyr-9" in prompt and "38.2" in prompt:
        return "The Zephyr-9 balloon reached 38.2 kilometres [1]."
    if "1815" in prompt:
        return "Ada Lovelace was born on 10 December 1815 [1]."
    return "The passages do not say [1]."


@pytest.fixture
def llm() -> Iterator[object]:
    from tests.llm_server import Reply, ScriptedLLM

    with ScriptedLLM(default=lambda body: Reply(_reply(body))) as server:
        yield server


@pytest.fixture
def app_server(offline_model_dirs, page_data: Path, tmp_path: Path, llm) -> Iterator[dict]:
    """The page with a (scripted) language model, so a saved case records a cassette."""
    llm_env = {"OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-test"}
    llm_env["MSRAG_LLM_MODEL"] = "test-model"
    with serve_page(page_env(offline_model_dirs, page_data), tmp_path, llm_env) as served:
        yield {
            "url": served.url,
            "env": served.env,
            "cwd": served.cwd,
            "data": page_data,
            "proc": served.proc,
        }


def _ask(page, question: str, answers: int) -> None:  # noqa: ANN001 - playwright Page
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    page.locator("[data-testid=stChatMessage]").nth(2 * answers - 1).wait_for(timeout=90_000)
    wait_idle(page)


def _shot(page, name: str) -> None:  # noqa: ANN001 - playwright Page
    """Saved by the test and committed under docs/screenshots/ (the README and the guide show
    them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    time.sleep(0.8)  # expanders and popovers animate
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_conversations_documents_feedback_and_a_case_in_a_real_browser(
    app_server: dict, tmp_path: Path
) -> None:
    from assistant.conversations import ConversationStore

    url, data = app_server["url"], app_server["data"]
    with chromium(tmp_path / "profile", height=1100) as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(url)
        page.get_by_test_id("stChatInputTextArea").wait_for(timeout=90_000)
        wait_idle(page)

        # two questions, then a reload: the conversation and its sources are back
        _ask(page, ASK_ADA, 1)
        _ask(page, ASK_BALLOON, 2)
        assert "c=" in page.url
        page.reload()
        page.locator(".msrag-answer").nth(1).wait_for(timeout=90_000)
        wait_idle(page)
        answers = page.locator(".msrag-answer")
        assert "1815" in answers.nth(0).inner_text()
        assert "38.2 kilometres" in answers.nth(1).inner_text()
        assert page.locator(".msrag-source-head").count() >= 1  # the latest answer's sources
        with ConversationStore(data / "conversations.db") as store:
            [conversation] = store.conversations()
            assert conversation.turns == 2 and conversation.title == ASK_ADA

        # 👎 with a comment on the first answer, kept with its turn
        first = page.locator("[data-testid=stChatMessage]").nth(1)
        first.get_by_test_id("stFeedbackButton").nth(1).click()
        wait_idle(page)
        comment = first.get_by_label("What was wrong?")
        comment.fill("It should say where she was born.")
        comment.press("Enter")
        wait_idle(page)
        with ConversationStore(data / "conversations.db") as store:
            feedback = store.turns(conversation.id)[0].feedback
            assert feedback and feedback.rating == "down"
            assert feedback.comment == "It should say where she was born."

        # save the second answer as a regression case
        second = page.locator("[data-testid=stChatMessage]").nth(3)
        second.get_by_test_id("stPopoverButton").click()
        page.get_by_role("button", name="Save case").click()
        page.get_by_text("recorded its goldens").wait_for(timeout=120_000)
        wait_idle(page)
        said = page.get_by_text("recorded its goldens").inner_text()
        assert "answer pass" in said, said
        page.keyboard.press("Escape")
        wait_idle(page)
        page.set_viewport_size({"width": 1280, "height": 2000})
        _shot(page, "chat.png")
        page.set_viewport_size({"width": 1280, "height": 1100})

        # rename, from the sidebar
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("This conversation").click()
        title = sidebar.get_by_label("Title")
        title.fill("Ada and the balloon <b>x</b>")
        title.press("Enter")
        sidebar.get_by_role("button", name="Rename").click()
        wait_idle(page)
        sidebar.get_by_text("Ada and the balloon <b>x</b>").first.wait_for(timeout=30_000)

        # Documents: delete a document (asks first); the chat no longer cites it
        _nav(page, "Documents")
        page.get_by_test_id("stDataFrame").wait_for(timeout=60_000)
        select = page.get_by_test_id("stSelectbox").filter(has_text="Open a document")
        select.click()
        page.get_by_role("option", name="sourdough_recipe.txt").first.click()
        wait_idle(page)
        page.get_by_role("button", name="Delete…").click()
        wait_idle(page)
        page.get_by_text("cannot be undone").wait_for(timeout=30_000)
        page.get_by_role("button", name="Delete", exact=True).click()
        page.get_by_text("Deleted").first.wait_for(timeout=60_000)
        wait_idle(page)
        _shot(page, "documents.png")
        _nav(page, "Chat")
        page.get_by_test_id("stSidebar").get_by_role("button", name="New chat").click()
        wait_idle(page)
        _ask(page, ASK_SOURDOUGH, 1)
        sources = " ".join(page.locator(".msrag-source-meta").all_inner_texts())
        assert sources and "sourdough_recipe.txt" not in sources

        # delete the first conversation, with its confirmation
        sidebar.get_by_text("Ada and the balloon <b>x</b>").first.click()
        page.locator(".msrag-answer", has_text="1815").wait_for(timeout=60_000)
        wait_idle(page)
        ask = sidebar.get_by_role("button", name="Delete…")
        if not ask.is_visible():
            sidebar.get_by_text("This conversation").click()
        ask.click()
        wait_idle(page)
        sidebar.get_by_text("cannot be undone").wait_for(timeout=30_000)
        sidebar.get_by_role("button", name="Delete", exact=True).click()
        deadline = time.monotonic() + 60  # the click's script run saves it
        while True:
            with ConversationStore(data / "conversations.db") as store:
                titles = [c.title for c in store.conversations()]
            if titles == [ASK_SOURDOUGH] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert titles == [ASK_SOURDOUGH]
        wait_idle(page)
        assert sidebar.get_by_role("button", name="Ada and the balloon").count() == 0

    # the saved case passes on the next `msrag regress` (replaying its recorded answer)
    proc = app_server["proc"]
    proc.send_signal(signal.SIGTERM)  # the embedded store admits one process
    proc.wait(timeout=30)
    env = {k: v for k, v in app_server["env"].items() if not k.startswith("OPENAI_")}
    # The case was saved before the sourdough document was deleted, and its passages may include
    # it: ingest the demo folder again (unchanged files are skipped, the deleted one comes back
    # with the same point ids and source names, relative to the repository as when the demo
    # store was built), so the replay runs on the collection the case was saved from.
    restored = subprocess.run(
        [sys.executable, "-m", "msrag", "ingest", str(DEMO_DOCS.relative_to(REPO))],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    done = subprocess.run(
        [sys.executable, "-m", "msrag", "regress", "msrag-cases.yaml"],
        cwd=app_server["cwd"], env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fb-c" in done.stdout
