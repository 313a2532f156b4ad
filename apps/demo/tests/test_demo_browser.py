"""The app in a real Chromium (Debian's, through playwright): the journeys a user takes.

Steps run in order on one page (one app, one browser session), as a user would: add PDFs,
search them, ask a question with documents on, chat, look at the model tab, delete a
document. Each tab is screenshotted into docs/screenshots/ for the README.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
TIMEOUT = 120_000  # ms: two shared CPU cores, embedding PDFs takes a while


@pytest.fixture(scope="module")
def page(browser, demo_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(demo_server.url)
    page.locator("#status-banner").get_by_text("Model ready").wait_for()
    yield page
    context.close()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)  # let plots and tables finish drawing
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_1_upload_pdfs_and_see_them_listed(page, course_pdfs, tmp_path: Path) -> None:
    open_tab(page, "Documents")
    pdfs = course_pdfs
    not_pdf = tmp_path / "notes.pdf"
    not_pdf.write_text("plain text pretending to be a PDF")
    page.locator("#docs-upload input[type=file]").set_input_files([*map(str, pdfs), str(not_pdf)])
    page.locator("#docs-upload").get_by_text(pdfs[0].name).wait_for()
    page.locator("#docs-add").click()
    status = page.locator("#docs-status")
    for pdf in pdfs:
        status.get_by_text(f"✓ {pdf.name} added").wait_for()
        page.locator("#docs-table").get_by_text(pdf.name).first.wait_for()
    # the fake PDF is refused by name, with the reason, and the real ones still went in
    status.get_by_text("notes.pdf: not a PDF").wait_for()
    assert "notes.pdf" not in page.locator("#docs-table").inner_text()
    rows = page.locator("#docs-table tbody tr")
    assert rows.count() == 2


def test_2_search_shows_hits_with_scores(page) -> None:
    page.locator("#docs-query textarea, #docs-query input").first.fill("Gauss law electric flux")
    page.locator("#docs-search").click()
    hits = page.locator("#docs-hits")
    hits.get_by_text("PHY102_Electromagnetism.pdf").first.wait_for()
    first_row = hits.locator("tbody tr").first.inner_text()
    assert re.search(r"\d\.\d+", first_row), first_row  # a score
    shot(page, "documents")


def test_3_mcqa_with_documents_gives_letter_probabilities_and_sources(page) -> None:
    open_tab(page, "MCQA")
    question = (
        "According to Gauss's law, the electric flux through a closed surface is proportional to\n"
        "A. the enclosed charge\nB. the surface area\nC. the magnetic field\nD. the current"
    )
    page.locator("#mcqa-question textarea").fill(question)
    page.locator("#mcqa-use-docs input[type=checkbox]").check()
    page.locator("#mcqa-ask").click()
    letter = page.locator("#mcqa-answer .stemqa-letter")
    letter.wait_for()
    assert letter.get_attribute("data-letter") in list("ABCD")
    # bar chart drawn (Vega renders into a canvas/svg) and the four option bars exist in the data
    page.locator("#mcqa-probs canvas, #mcqa-probs svg").first.wait_for()
    passages = page.locator("#mcqa-passages tbody tr")
    passages.first.wait_for()
    first = passages.first.inner_text()
    assert ".pdf" in first and re.search(r"\b\d+\b", first), first
    page.locator("#mcqa-latency").get_by_text("ms").first.wait_for()
    page.get_by_text("Exact prompt sent to the model").click()
    assert "Considering this context" in page.locator("#mcqa-prompt textarea").input_value()
    shot(page, "mcqa")


def test_4_chat_streams_an_answer_with_sources(page) -> None:
    open_tab(page, "Chat")
    page.locator("#chat-use-docs input[type=checkbox]").check()
    page.locator("#chat-input textarea").fill("What does Gauss's law say about electric flux?")
    page.locator("#chat-send").click()
    bot = page.locator("#chat-bot")
    bot.get_by_text("What does Gauss's law say").wait_for()
    bot.get_by_text("Sources:").wait_for()
    text = bot.inner_text()
    assert re.search(r"\.pdf p\. \d+", text), text
    shot(page, "chat")


def test_5_model_tab_shows_status_and_training_plots(page, demo_server) -> None:
    run = demo_server.runs_dir / "dpo-example"
    (run / "plots").mkdir(parents=True, exist_ok=True)
    # metrics in the layout train-dpo writes (one JSON object per logging step)
    with (run / "metrics.jsonl").open("w") as fh:
        for step in range(1, 11):
            record = {
                "step": step,
                "loss": 0.69 - 0.03 * step,
                "rewards/accuracies": 0.5 + 0.04 * step,
            }
            fh.write(json.dumps(record) + "\n")
    open_tab(page, "Model")
    page.locator("#model-status").get_by_text("Model ready").wait_for()
    page.locator("#model-run input").fill(str(run))
    page.locator("#model-run input").press("Enter")
    page.locator("#model-show-run").click()
    page.locator("#model-curves canvas, #model-curves svg").first.wait_for()
    shot(page, "model")


def test_6_deleting_a_document_removes_it_from_search(page) -> None:
    open_tab(page, "Documents")
    target = "PHY102_Electromagnetism.pdf"
    page.locator("#docs-delete-choice input").click()
    page.get_by_role("option", name=target).click()
    page.locator("#docs-delete").click()
    page.locator("#docs-status").get_by_text(f"Deleted {target}").wait_for()
    page.locator("#docs-query textarea, #docs-query input").first.fill("Gauss law electric flux")
    page.locator("#docs-search").click()
    hits = page.locator("#docs-hits")
    # the old hits (from the deleted PDF) are replaced by hits from the remaining one only
    expect(hits).not_to_contain_text(target, timeout=TIMEOUT)
    expect(hits).to_contain_text("PHY202_Statistical_Mechanics.pdf", timeout=TIMEOUT)
    expect(page.locator("#docs-table")).not_to_contain_text(target)
