"""Problems said inline, in the UI's words, and the page viewer, in a real Chromium.

One page (one browser session) walks through the mistakes a user makes: each message must
appear next to the input it concerns, the previous answer must go, and nothing may read like
a command line. Then a cited passage is opened on its rendered page in MCQA and in chat.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
PDFS = REPO / "tests" / "data" / "pdfs"
SHOTS = REPO / "docs" / "screenshots"
TIMEOUT = 120_000
expect.set_options(timeout=TIMEOUT)
CLI_WORDING = ("--", "max_tokens", "pass the choices as a list", "Repo id must be")


@pytest.fixture(scope="module")
def page(open_app):
    context, page = open_app()
    yield page
    context.close()


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def ask(page, question: str, options: str = "") -> None:
    page.locator("#mcqa-question textarea").fill(question)
    page.locator("#mcqa-options textarea").fill(options)
    page.locator("#mcqa-ask").click()


def no_cli_wording(text: str) -> None:
    for words in CLI_WORDING:
        assert words not in text, text


def test_mcqa_errors_are_inline_and_clear_the_old_answer(page) -> None:
    tab(page, "MCQA")
    letter = page.locator("#mcqa-answer .stemqa-letter")
    ask(page, "Which is a vector?\na) mass\nb) velocity\nc) energy")  # lowercase is fine
    letter.wait_for()
    assert letter.get_attribute("data-letter") in list("ABC")
    expect(page.locator("#mcqa-latency")).to_contain_text(" ms")

    eleven = "Pick one\n" + "\n".join(f"{chr(65 + i)}. option {i}" for i in range(11))
    ask(page, eleven)
    error = page.locator("#mcqa-question-error")
    expect(error).to_contain_text("11 options (A to K): at most 10 (A to J) can be answered.")
    expect(letter).to_have_count(0)  # the old answer is gone, not left under the error
    expect(page.locator("#mcqa-latency")).not_to_contain_text("ms")
    assert page.locator(".toast-body").count() == 0  # no toast
    no_cli_wording(error.inner_text())

    ask(page, "Which?\nA. up\nB. down", "up\ndown")
    options_error = page.locator("#mcqa-options-error")
    expect(options_error).to_contain_text("both in the question and in this box")
    expect(error).to_be_empty()  # the earlier message went with its problem
    no_cli_wording(options_error.inner_text())


def add_private_and_ask(page, name: str, mime: str, data: bytes, question: str):
    """Add a private document (so a test needs nothing from others and leaves the shared
    library alone), ask MCQA with documents on, and return the passages table citing it."""
    tab(page, "Documents")
    page.locator("#docs-scope").get_by_label("Only me").check()
    page.locator("#docs-upload input[type=file]").set_input_files(
        [{"name": name, "mimeType": mime, "buffer": data}]
    )
    expect(page.locator("#docs-upload")).to_contain_text("⇣")  # listed once uploaded
    page.locator("#docs-add").click()
    expect(page.locator("#docs-status")).to_contain_text(f"✓ {name} added")
    tab(page, "MCQA")
    page.locator("#mcqa-use-docs input[type=checkbox]").check()
    ask(page, question)
    passages = page.locator("#mcqa-passages")
    expect(passages).to_contain_text(name)
    return passages


def test_page_viewer_opens_cited_passages_in_mcqa_and_chat(page, pdf_pages) -> None:
    # one page of the electromagnetism notes, private
    data = pdf_pages(PDFS / "PHY102_Electromagnetism.pdf", [1])
    passages = add_private_and_ask(
        page,
        "divergence.pdf",
        "application/pdf",
        data,
        "The divergence of a vector field is defined through the flux out of a small volume. "
        "Is it the same in any coordinate system?\nA. yes\nB. no",
    )
    page.locator("#mcqa-view-open").click()  # the first cited passage, whichever library
    expect(page.locator("#mcqa-view-status")).to_contain_text("highlighted")
    # clicking a row opens that passage: ours, from the private library
    passages.locator("[role=row]").filter(has_text="divergence.pdf").first.click()
    expect(page.locator("#mcqa-view-status")).to_contain_text("divergence.pdf p. 1")
    image = page.locator("#mcqa-page img")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") > 800  # the rendered page, not an icon
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#mcqa-page").screenshot(path=str(SHOTS / "viewer.png"))  # for the README

    tab(page, "Chat")
    page.locator("#chat-send").click()  # empty Send: said so under the input
    expect(page.locator("#chat-error")).to_contain_text("Type a message first.")
    page.locator("#chat-use-docs input[type=checkbox]").check()
    page.locator("#chat-input textarea").fill("What is the divergence of a vector field?")
    page.locator("#chat-send").click()
    expect(page.locator("#chat-error")).to_be_empty()
    expect(page.locator("#chat-bot")).to_contain_text("Sources:")
    page.locator("#chat-view-open").click()
    expect(page.locator("#chat-view-status")).to_contain_text(".pdf p. ")
    expect(page.locator("#chat-page img")).to_be_visible()


def test_viewer_shows_a_markdown_section_with_the_passage_marked(page, doc_files) -> None:
    """A document without pages: its cited section as text, the passage in <mark>."""
    passages = add_private_and_ask(
        page,
        "optics.md",
        "text/markdown",
        doc_files["md"].read_bytes(),
        "In Young's double slit experiment, where do bright fringes appear?\n"
        "A. where the path difference is a whole number of wavelengths\nB. nowhere",
    )
    expect(page.locator("#docs-status")).to_contain_text("✓ optics.md added (3 sections)")
    passages.locator("[role=row]").filter(has_text="optics.md").first.click()
    status = page.locator("#mcqa-view-status")
    expect(status).to_contain_text("optics.md p. §")
    expect(status).to_contain_text("highlighted in its section")
    section = page.locator("#mcqa-section")
    expect(section.locator("mark").first).to_be_visible()
    expect(section).to_contain_text("<half>")  # the file's markup is shown as text, not parsed
    assert section.locator("half").count() == 0
    expect(page.locator("#mcqa-page img")).to_have_count(0)  # no stale PDF page beside it


def test_model_tab_errors_in_its_own_words(page, demo_server, tmp_path) -> None:
    run, _n = demo_server.run_folder.result(timeout=300)
    tab(page, "Model")
    page.get_by_text("Push the adapter to the Hugging Face Hub").click()
    page.locator("#model-push-folder textarea, #model-push-folder input").first.fill(str(run))
    page.locator("#model-repo textarea, #model-repo input").first.fill("someone/tiny-dora")
    page.locator("#model-dry-run input[type=checkbox]").check()
    page.locator("#model-push").click()
    result = page.locator("#model-push-result")
    expect(result).to_contain_text("Dry run: would upload")
    # a failed push: inline, the stale dry-run text replaced, the token box emptied
    page.locator("#model-dry-run input[type=checkbox]").uncheck()
    page.locator("#model-repo textarea, #model-repo input").first.fill("not a repo id")
    page.locator("#model-token input").fill("hf_secret_never_shown")
    page.locator("#model-push").click()
    expect(result).to_contain_text("✗ Push failed: Repo id 'not a repo id' is not of the form")
    expect(result).not_to_contain_text("Dry run")
    expect(page.locator("#model-token input")).to_have_value("")
    assert "hf_secret_never_shown" not in demo_server.log()

    # offline, the default model fails in seconds and names the offline smoke path
    started = time.monotonic()
    page.locator("#model-name textarea, #model-name input").first.fill("microsoft/phi-2")
    page.locator("#model-load").click()
    status = page.locator("#model-status")
    expect(status).to_contain_text("reload failed", timeout=30_000)
    assert time.monotonic() - started < 30
    expect(status).to_contain_text("Model ready (old model")  # the tiny model still answers
    expect(status).to_contain_text("make-tiny-model")
    # a folder that doesn't exist: "not found", not the Hub's repo id rules
    page.locator("#model-name textarea, #model-name input").first.fill(str(tmp_path / "nope"))
    page.locator("#model-load").click()
    expect(status).to_contain_text("nope was not found")
    no_cli_wording(status.inner_text())
