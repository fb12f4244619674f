"""Teams in a real browser: `MSRAG_AUTH=header`, the proxy's header injected by Playwright.

One Streamlit server over a library of public, `hr` and `legal` documents that all talk about
the holiday bonus; a scripted OpenAI-compatible server records every prompt. Separate browser
contexts play the proxy for different users: with no header the page is the sign-in page and
nothing else; Dave (no group) and Eve (hr) see different libraries and their own histories only,
and no forbidden passage reaches the prompt, the answer, the sources, the alignment view or the
library; Alice (admin) sees every document, the upload panel and the audit log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.encoders import Encoders
from retrieval.ingest.offline import OfflineModels
from retrieval.ingest.pipeline import ingest
from retrieval.stores import open_store
from tests.assistant.conftest import SECRET
from tests.assistant.helpers import forbidden_markers, write_library
from tests.conftest import make_settings, shipped_layout
from tests.llm_server import Reply, ScriptedLLM
from tests.ui.conftest import page_env
from tests.ui.page_server import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, serve_page, wait_idle

pytestmark = pytest.mark.browser
HEADER = "X-Forwarded-Email"
DAVE, EVE, ALICE = "dave@example.com", "eve@hr.example.com", "alice@example.com"
DAVE_Q = "What is the holiday bonus policy?"
EVE_Q = "How much holiday bonus do employees get in December?"


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM(
        api_key=SECRET, default=lambda body: Reply("The holiday bonus is paid in December [1].")
    ) as server:
        yield server


@pytest.fixture
def server(
    offline_model_dirs: OfflineModels, encoders: Encoders, llm: ScriptedLLM, tmp_path: Path
) -> Iterator[str]:
    data = tmp_path / "data"
    settings = make_settings(offline_model_dirs, data, **shipped_layout())
    configured = encoders.configured(settings)
    store = open_store(settings, configured.layout(settings))
    try:
        report = ingest([write_library(tmp_path)], settings, store, configured, progress=False)
        assert report.ok and {r.groups for r in report.files} == {(), ("hr",)}
        ingest(
            [tmp_path / "docs" / "legal"],
            settings,
            store,
            configured,
            progress=False,
            groups=["legal"],
        )
    finally:
        store.close()
    groups = tmp_path / "groups.yaml"
    groups.write_text(f'{ALICE}: [admins]\n"*@hr.example.com": [hr]\n')
    env = page_env(offline_model_dirs, data)
    env.update(
        {
            "MSRAG_AUTH": "header",
            "MSRAG_GROUPS_FILE": str(groups),
            "OPENAI_BASE_URL": llm.url,
            "OPENAI_API_KEY": SECRET,
            "MSRAG_LLM_MODEL": "test-model",
        }
    )
    with serve_page(env, tmp_path) as served:
        yield served.url


def _page(browser, url: str, user: str | None):  # noqa: ANN001, ANN202 - playwright objects
    headers = {HEADER: user} if user else {}
    context = browser.new_context(
        extra_http_headers=headers, viewport={"width": 1280, "height": 1400}
    )
    page = context.new_page()
    page.goto(url)
    return page


def _ask(page, question: str) -> None:  # noqa: ANN001
    box = page.get_by_test_id("stChatInputTextArea")
    box.wait_for(timeout=90_000)
    wait_idle(page)
    box.fill(question)
    box.press("Enter")
    page.locator(".msrag-source-head").first.wait_for(timeout=60_000)
    wait_idle(page)


def _open_library(page) -> str:  # noqa: ANN001
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Library (").click()
    time.sleep(0.8)
    return sidebar.inner_text()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_two_users_see_their_own_library_and_history(
    server: str, llm: ScriptedLLM, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            # no header: the sign-in page, and nothing else
            nobody = _page(browser, server, None)
            nobody.get_by_text("Sign-in required").wait_for(timeout=90_000)
            wait_idle(nobody)
            assert nobody.get_by_test_id("stChatInputTextArea").count() == 0
            assert nobody.get_by_test_id("stSidebar").count() == 0
            text = nobody.locator("body").inner_text()
            assert "holiday" not in text.lower() and "Library" not in text

            dave = _page(browser, server, DAVE)
            eve = _page(browser, server, EVE)
            _ask(dave, DAVE_Q)
            _ask(eve, EVE_Q)

            libraries = {}
            for page, user, groups, question, other in (
                (dave, DAVE, (), DAVE_Q, EVE_Q),
                (eve, EVE, ("hr",), EVE_Q, DAVE_Q),
            ):
                # the alignment view of the first source, then everything the page shows
                page.get_by_text("Why this passage").first.click()
                page.locator(".msrag-heat").first.wait_for(timeout=30_000)
                wait_idle(page)
                libraries[user] = _open_library(page)
                assert user in libraries[user]
                body = page.locator("body").inner_text()
                assert question in body and other not in body  # their own history only
                assert not any(word in body for word in forbidden_markers(groups)), user
                assert "Add documents" not in body and "Audit log" not in body
            # the Documents page is read-only for them, and lists only what they may see
            dave.goto(server + "/documents")
            dave.get_by_text("Open a document").wait_for(timeout=60_000)
            wait_idle(dave)
            page_text = dave.locator("body").inner_text()
            assert "1 of 1 documents" in page_text, page_text[:500]
            assert "Add documents" not in page_text and "Audit log" not in page_text
            dave_library, eve_library = libraries[DAVE], libraries[EVE]
            assert "Library (1 documents)" in dave_library and "hr/bands.md" not in dave_library
            assert "Library (2 documents)" in eve_library and "hr/bands.md" in eve_library
            assert "legal/contract.md" not in eve_library and "public/handbook.md" in dave_library
            eve.screenshot(path=str(ARTIFACTS / "ui_teams_hr.png"), full_page=True)

            # the prompts the model received: only what each user may see
            prompts = [json.dumps(r) for r in llm.chat_requests]
            assert len(prompts) == 2
            for prompt in prompts:
                groups = ("hr",) if EVE_Q in prompt else ()
                assert "holiday bonus" in prompt
                assert not any(word in prompt for word in forbidden_markers(groups)), prompt[:300]

            # the admin sees every document, the upload panel and both users' questions
            alice = _page(browser, server, ALICE)
            alice.get_by_test_id("stChatInputTextArea").wait_for(timeout=90_000)
            wait_idle(alice)
            library = _open_library(alice)
            assert "Library (3 documents)" in library and "Admin" in library
            # the Documents page: every document, the upload panel, the audit log
            alice.goto(server + "/documents")
            alice.get_by_text("Audit log").wait_for(timeout=60_000)
            wait_idle(alice)
            assert "Add documents" in alice.locator("body").inner_text()
            alice.get_by_text("Audit log").click()
            alice.get_by_text(DAVE_Q).first.wait_for(timeout=10_000)
            alice.get_by_text(EVE_Q).first.wait_for(timeout=10_000)
            alice.screenshot(path=str(ARTIFACTS / "ui_teams_admin.png"), full_page=True)
        finally:
            browser.close()
