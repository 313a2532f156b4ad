"""A self-hosted app with --auth and --read-only-library, in a real Chromium.

Each user signs in on Gradio's login page and keeps one library across browser sessions;
another user never sees it; nobody can change the shared library from the app.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

PDF = (
    Path(__file__).resolve().parents[3]
    / "tests"
    / "data"
    / "pdfs"
    / "PHY202_Statistical_Mechanics.pdf"
)
TIMEOUT = 120_000
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def server(launch_demo, chromium_path):
    return launch_demo(
        ["--no-model", "--read-only-library", "--auth", "alice:pw-a,bob:pw-b"],
        auth=("alice", "pw-a"),
        model=False,
    )


def sign_in(browser, url: str, user: str, password: str):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(url)
    page.locator("input[type=text], input:not([type])").first.fill(user)
    page.locator("input[type=password]").fill(password)
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#status-banner")).to_contain_text("Documents:")
    page.get_by_role("tab", name="Documents").click()
    return context, page


def test_each_user_keeps_a_private_library_and_the_shared_one_is_read_only(
    browser, server, pdf_pages
) -> None:
    ctx, alice = sign_in(browser, server.url, "alice", "pw-a")
    scope = alice.locator("#docs-scope")
    expect(scope).to_contain_text("Only me")
    assert "Shared library" not in scope.inner_text()  # read-only: nowhere to add shared
    expect(scope).to_contain_text("read-only")
    alice.locator("#docs-upload input[type=file]").set_input_files(
        [{"name": "alice.pdf", "mimeType": "application/pdf", "buffer": pdf_pages(PDF, [0])}]
    )
    alice.locator("#docs-upload").get_by_text("alice.pdf").wait_for()
    alice.locator("#docs-add").click()
    expect(alice.locator("#docs-status")).to_contain_text("✓ alice.pdf added")
    ctx.close()

    # a new browser session of the same user: the library is still there (persistent)
    ctx, again = sign_in(browser, server.url, "alice", "pw-a")
    expect(again.locator("#docs-table")).to_contain_text("alice.pdf")
    ctx.close()
    folders = [p.name for p in (server.data_dir / "private").iterdir()]
    assert len(folders) == 1 and folders[0].startswith("user-alice-"), folders

    # another user: nothing of alice's in the table or in search
    ctx, bob = sign_in(browser, server.url, "bob", "pw-b")
    bob.locator("#docs-refresh").click()
    bob.wait_for_timeout(1500)
    assert "alice.pdf" not in bob.locator("#docs-table").inner_text()
    bob.locator("#docs-query textarea, #docs-query input").first.fill("partition function")
    bob.locator("#docs-search").click()
    expect(bob.locator("#docs-search-status")).to_contain_text("No documents to search yet.")
    ctx.close()
