"""Alice, in a real browser, looks at the folders of her IMAP account and adds one."""

from pathlib import Path

import pytest

from mailbox.sync import run_account
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_alice_sees_her_folders_and_adds_one(logged_in_page, imap_account, other_client):  # noqa: F811
    other_client.seed(30, seed=6, folders={"INBOX": 5, "Projects/Garden": 2, "Receipts": 1})
    assert run_account(imap_account.pk)
    page = logged_in_page
    page.goto("/accounts/")
    page.click(f"tr[data-account-id='{imap_account.pk}'] >> text=Folders")
    page.wait_for_url(f"**/mail/accounts/{imap_account.pk}/folders/")
    names = page.eval_on_selector_all(
        "#folder-tree li", "items => items.map(i => i.dataset.folderName)"
    )
    assert names[:6] == ["INBOX", "Drafts", "Sent", "Archive", "Junk", "Trash"]

    page.fill("#id_name", "Reçus & factures")
    page.select_option("#id_parent", label="Projects")
    page.click("#new-folder button[type=submit]")
    assert "The folder Reçus & factures was created." in page.inner_text(".flash")
    assert page.is_visible(
        "li[data-folder-name='Projects/Reçus & factures'] >> text=Reçus & factures"
    )

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "folders.png", full_page=True)
    page.click("li[data-folder-name='Receipts'] summary")
    assert page.is_visible("li[data-folder-name='Receipts'] .popover input[name=name]")
    page.screenshot(path=ARTIFACTS / "folders-rename.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=ARTIFACTS / "folders-narrow.png", full_page=True)

    page.set_viewport_size({"width": 1280, "height": 800})
    with page.expect_navigation():
        page.select_option("footer select[name=language]", "fr")
    assert "Boîte de réception" in page.inner_text("#folder-tree")
    page.screenshot(path=ARTIFACTS / "folders-fr.png", full_page=True)
