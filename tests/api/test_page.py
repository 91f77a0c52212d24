"""The chat page in a real browser: headless Chromium from Debian's packages, driven by Playwright.

`make test` installs both (Playwright's own browser download cannot work on these machines).
"""

import os
import shutil

import httpx
import pytest

from assistant.api import create_app
from tests.fake_llm import Script, make_fake_llm
from tests.servers import app_in_thread

pytestmark = [pytest.mark.server, pytest.mark.slow]

ANSWERABLE = "How many representatives participated in the First Congress of World Azerbaijanis?"
UNANSWERABLE = "What is the boiling point of liquid nitrogen?"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: `make test` installs it from Debian's packages")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(sample_assistant):
    with app_in_thread(create_app(sample_assistant.settings, sample_assistant)) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors


def ask(page, question: str):
    """Types the question and sends it with the keyboard; returns the finished answer's turn."""
    done_before = page.locator("li.turn.assistant.done").count()
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    page.locator("li.turn.assistant.done").nth(done_before).wait_for(timeout=30_000)
    return page.locator("li.turn.assistant").nth(done_before)


def test_asking_shows_the_answer_and_a_marker_opens_the_highlighted_span(page, site):
    page.goto(site)
    expected = httpx.post(f"{site}/chat", json={"messages": [{"role": "user", "content": ANSWERABLE}]}).json()
    turn = ask(page, ANSWERABLE)
    assert "406" in turn.locator(".body").inner_text()
    assert page.locator("#key-row").is_hidden()  # no keys on this server: no key field
    marker = turn.locator("button.marker").first
    assert marker.inner_text() == "[1]"
    assert expected["citations"][0]["text"] in marker.get_attribute("title")  # hover shows the quote

    marker.focus()
    page.keyboard.press("Enter")  # keyboard only
    highlighted = page.locator("#document mark")
    highlighted.wait_for()
    assert highlighted.inner_text() == expected["citations"][0]["text"]
    source = expected["citations"][0]
    document = httpx.get(f"{site}/sources/{source['source']}/text").text
    assert document[source["start"] : source["end"]] == highlighted.inner_text()
    assert highlighted.is_visible()  # scrolled into view in the document pane
    shot = os.environ.get("ASSISTANT_PAGE_SCREENSHOT")
    if shot:
        page.screenshot(path=shot)


def test_an_abstention_looks_like_one_and_says_why(page, site):
    page.goto(site)
    turn = ask(page, UNANSWERABLE)
    assert "abstained" in turn.get_attribute("class")
    assert "not in the sources" in turn.locator(".who").inner_text().lower()
    assert turn.locator(".reason").inner_text().strip()
    assert turn.locator("button.marker").count() == 0


def test_a_follow_up_uses_the_conversation(page, site):
    page.goto(site)
    ask(page, "What is the Support to the Azerbaijan Diaspora Fund?")
    follow_up = ask(page, "And when was it founded?")
    assert "July 6, 2018" in follow_up.locator(".body").inner_text()
    assert page.locator("li.turn.user").count() == 2


def test_the_document_list_shows_the_indexed_documents(page, site):
    (source,) = httpx.get(f"{site}/sources").json()["sources"]
    page.goto(site)
    listed = page.locator("#documents button.open")
    listed.first.wait_for()
    assert listed.count() == 1 and source["title"] in listed.inner_text()
    listed.click()
    from playwright.sync_api import expect

    opening = httpx.get(f"{site}/sources/{source['id']}/text").text.split("\n")[0]
    expect(page.locator("#document")).to_contain_text(opening)


def test_a_streamed_draft_is_replaced_by_the_verified_answer(browser, sample_assistant, embeddings):
    from assistant.service.assembly import build_assistant

    script = Script()
    script.mode, script.token_delay = "bad-markers", 0.15
    with app_in_thread(make_fake_llm(script)) as llm:
        settings = sample_assistant.settings.model_copy(update={"llm_base_url": f"{llm}/v1", "llm_model": "fake"})
        generative = build_assistant(settings, embeddings=embeddings)
        with app_in_thread(create_app(settings, generative)) as url:
            page = browser.new_page()
            page.goto(url)
            page.locator("#question").fill(ANSWERABLE)
            page.locator("#question").press("Enter")
            draft = page.locator("li.turn.assistant .draft")
            draft.wait_for(timeout=30_000)  # the LLM's words appear while it writes
            turn = page.locator("li.turn.assistant.done")
            turn.wait_for(timeout=30_000)
            assert page.locator("li.turn.assistant .draft").count() == 0
            text = turn.locator(".body").inner_text()
            assert "[9]" not in text and "[12]" not in text  # markers to no passage are gone
            flagged = turn.locator(".unsupported")
            assert flagged.count() == 1 and "cheese" in flagged.inner_text()
            page.close()


def test_with_api_keys_the_page_asks_for_one_and_keeps_it_for_the_tab(browser, sample_assistant):
    key = "p" * 32
    settings = sample_assistant.settings.model_copy(update={"api_keys": key})
    with app_in_thread(create_app(settings, sample_assistant)) as url:
        page = browser.new_page()
        page.goto(url)
        page.locator("#key-row").wait_for()  # the document list got a 401
        page.locator("#api-key").fill(key)
        page.locator("#api-key").press("Tab")
        turn = ask(page, ANSWERABLE)
        assert "406" in turn.locator(".body").inner_text()
        assert page.evaluate("sessionStorage.getItem('assistant-api-key')") == key
        assert page.evaluate("localStorage.length") == 0
        page.close()


def test_documents_are_uploaded_and_deleted_from_the_page(browser, corpus, make_assistant, tmp_path):
    from tests.office_files import docx_bytes

    key = "u" * 32
    assistant = make_assistant(corpus, api_keys=key)
    assistant.indexer().rebuild()
    upload = tmp_path / "canteen.docx"
    upload.write_bytes(docx_bytes("Canteen", ["The canteen serves lunch from noon until two."]))
    with app_in_thread(create_app(assistant.settings, assistant)) as url:
        page = browser.new_page()
        page.goto(url)
        page.evaluate(f"sessionStorage.setItem('assistant-api-key', '{key}')")
        page.reload()
        page.locator("#documents button.open").first.wait_for()
        page.locator("#files").set_input_files(str(upload))
        page.locator("#upload-send").click()
        page.locator("#documents button.open", has_text="Canteen").wait_for(timeout=60_000)
        assert page.locator("#upload-status").inner_text() == "Done."
        assert "noon" in ask(page, "When does the canteen serve lunch?").locator(".body").inner_text()

        page.on("dialog", lambda dialog: dialog.accept())
        page.locator("#documents button.remove[aria-label='Delete canteen.docx']").click()
        page.locator("#documents button.open", has_text="Canteen").wait_for(state="detached", timeout=60_000)
        assert not (corpus / "canteen.docx").exists()
        page.close()


def test_the_empty_page_suggests_questions_from_the_documents(page, site):
    suggested = httpx.get(f"{site}/examples").json()["questions"]
    page.goto(site)
    examples = page.locator("#examples button")
    examples.first.wait_for()
    assert examples.all_inner_texts() == suggested and len(suggested) == 3
    examples.first.click()
    turn = page.locator("li.turn.assistant.done").first
    turn.wait_for(timeout=30_000)
    assert "abstained" not in turn.get_attribute("class")  # the documents answer it
    assert page.locator("#examples-box").is_hidden()


def test_on_a_phone_an_opened_citation_leaves_the_answer_in_sight(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(site)
    turn = ask(page, ANSWERABLE)
    turn.locator(".marker").first.click()
    page.locator("#cited").wait_for()
    viewport = page.viewport_size
    answer, viewer = turn.bounding_box(), page.locator("#viewer").bounding_box()
    assert viewer["y"] + viewer["height"] <= viewport["height"] + 1  # the source is on screen
    assert answer["y"] < viewer["y"] and answer["y"] >= 0  # and so is the answer, above it
    assert "406" in turn.locator(".body").inner_text()
    context.close()


def test_without_keys_the_page_changes_documents_and_other_sites_cannot(browser, corpus, make_assistant, tmp_path):
    """Keyless loopback mode: our own page uploads and deletes in `default`; a page served on
    another port (another origin) that posts a form or a fetch to the server is refused."""
    import http.server
    import threading

    from tests.office_files import docx_bytes, pdf_bytes
    from tests.servers import free_port

    assistant = make_assistant(corpus)
    assistant.indexer().rebuild()
    canteen, parking = tmp_path / "canteen.docx", tmp_path / "parking.pdf"
    canteen.write_bytes(docx_bytes("Canteen", ["The canteen serves lunch from noon until two."]))
    parking.write_bytes(pdf_bytes("Parking", ["Visitors park in the north car park behind the library."]))
    with app_in_thread(create_app(assistant.settings, assistant)) as url:
        hostile = tmp_path / "hostile"
        hostile.mkdir()
        (hostile / "index.html").write_text(
            f"""<!doctype html><form id="f" method="post" enctype="multipart/form-data"
                action="{url}/collections/default/documents"><input type="file" name="files"></form>
            <script>
              const body = new FormData();
              body.append("files", new Blob(["Evil text."]), "evil.txt");
              fetch("{url}/collections/default/documents", {{method: "POST", body, mode: "no-cors"}})
                .finally(() => {{ document.title = "sent"; }});
            </script>"""
        )
        port = free_port()
        handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(hostile))  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            evil = browser.new_page()
            evil.goto(f"http://127.0.0.1:{port}/index.html")
            evil.wait_for_function("document.title === 'sent'")
            evil.close()
        finally:
            server.shutdown()
        listed = httpx.get(f"{url}/collections/default/documents").json()["documents"]
        assert "evil.txt" not in {d["id"] for d in listed} and not (corpus / "evil.txt").exists()
        # The same from a client that names another origin, or none, over plain HTTP:
        forged = httpx.post(
            f"{url}/collections/default/documents",
            files={"files": ("evil.txt", b"Evil text.")},
            headers={"Origin": f"http://127.0.0.1:{port}"},
        )
        assert forged.status_code == 403 and "own page" in forged.json()["detail"]
        bare = httpx.post(f"{url}/collections/default/documents", files={"files": ("evil.txt", b"Evil text.")})
        assert bare.status_code == 403

        # What a new user does under `make run`: a .docx and a .pdf from the page, a question
        # about each (answered from that document), then one deleted.
        page = browser.new_page()
        page.goto(url)
        page.locator("#documents button.open").first.wait_for()
        page.locator("#files").set_input_files([str(canteen), str(parking)])
        page.locator("#upload-send").click()
        page.locator("#documents button.open", has_text="Canteen").wait_for(timeout=60_000)
        page.locator("#documents button.open", has_text="Parking").wait_for(timeout=60_000)
        assert page.locator("#upload-status").inner_text() == "Done."
        for question, answer, title in [
            ("When does the canteen serve lunch?", "noon", "Canteen"),
            ("Where do visitors park?", "north car park", "Parking"),
        ]:
            turn = ask(page, question)
            assert answer in turn.locator(".body").inner_text()
            turn.locator("button.marker").first.click()
            page.locator("#document mark").wait_for()
            assert page.locator("#viewer-title").inner_text() == title
        page.on("dialog", lambda dialog: dialog.accept())
        page.locator("#documents button.remove[aria-label='Delete canteen.docx']").click()
        page.locator("#documents button.open", has_text="Canteen").wait_for(state="detached", timeout=60_000)
        assert not (corpus / "canteen.docx").exists() and (corpus / "parking.pdf").exists()
        # Keyless changes reach the default collection alone.
        other = httpx.post(
            f"{url}/collections/hr/documents",
            files={"files": ("x.txt", b"text")},
            headers={"X-Assistant-Page": "1"},
        )
        assert other.status_code in (403, 404)
        page.close()
