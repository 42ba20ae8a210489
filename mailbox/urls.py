from django.urls import path

from .views import compose, contacts, download, folders, mail, message, outbox, undo, unified

app_name = "mailbox"
urlpatterns = [
    path("", mail.mail_home, name="home"),
    # the lists across accounts: all/inbox/, all/unread/, all/starred/ (views/unified.py)
    path("all/<slug:view>/", unified.unified_list, name="unified"),
    # the compose screen and its drafts (views/compose.py)
    path("compose/", compose.compose_new, name="compose"),
    path("compose/save/", compose.draft_save, name="draft_save"),
    path("compose/send/", compose.draft_send, name="draft_send"),
    path("compose/text/", compose.html_text, name="compose_text"),
    path("compose/<str:mode>/<id:message_id>/", compose.compose_from, name="compose_from"),
    path("drafts/<id:draft_id>/", compose.draft_page, name="draft"),
    path("drafts/<id:draft_id>/attachments/", compose.draft_attach, name="draft_attach"),
    path(
        "drafts/<id:draft_id>/attachments/<id:attachment_id>/",
        compose.draft_attachment,
        name="draft_attachment",
    ),
    path(
        "drafts/<id:draft_id>/attachments/<id:attachment_id>/delete/",
        compose.draft_attachment_delete,
        name="draft_attachment_delete",
    ),
    path("drafts/<id:draft_id>/discard/", compose.draft_discard, name="draft_discard"),
    path("outbox/<id:outbox_id>/undo/", compose.send_undo, name="send_undo"),
    path("accounts/<id:account_id>/folders/", folders.folder_list, name="folders"),
    path("accounts/<id:account_id>/folders/create/", folders.folder_create, name="folder_create"),
    path("accounts/<id:account_id>/sync/", folders.account_sync, name="account_sync"),
    path("folders/<id:folder_id>/rename/", folders.folder_rename, name="folder_rename"),
    path("folders/<id:folder_id>/delete/", folders.folder_delete, name="folder_delete"),
    path("folders/<id:folder_id>/subscribe/", folders.folder_subscribe, name="folder_subscribe"),
    path("folders/<id:folder_id>/empty/", folders.folder_empty, name="folder_empty"),
    path("accounts/<id:account_id>/", mail.account_inbox, name="account_inbox"),
    path("folders/<id:folder_id>/", mail.folder_messages, name="folder_messages"),
    path("folders/<id:folder_id>/search/", mail.search, name="search"),
    path("messages/<id:message_id>/", message.message_view, name="message"),
    path("messages/<id:message_id>/body/", message.message_body, name="message_body"),
    path("messages/<id:message_id>/cid/<path:cid>/", message.message_cid, name="message_cid"),
    path(
        "messages/<id:message_id>/trust-sender/",
        message.trust_sender,
        name="trust_sender",
    ),
    path("messages/action/", mail.message_action, name="message_action"),
    path("messages/undo/", undo.undo_moves, name="undo_moves"),
    path("contacts/", contacts.contacts, name="contacts"),
    path(
        "messages/<id:message_id>/parts/<str:section>/",
        download.part_download,
        name="part_download",
    ),
    path(
        "messages/<id:message_id>/original/",
        download.message_original,
        name="message_original",
    ),
    path(
        "messages/<id:message_id>/headers/",
        download.message_headers,
        name="message_headers",
    ),
    path(
        "messages/<id:message_id>/parts/<str:section>/preview/",
        download.part_preview,
        name="part_preview",
    ),
    path("outbox/", outbox.outbox_list, name="outbox"),
    path("outbox/<id:outbox_id>/cancel/", outbox.outbox_cancel, name="outbox_cancel"),
    path("outbox/<id:outbox_id>/retry/", outbox.outbox_retry, name="outbox_retry"),
]
