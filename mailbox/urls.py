from django.urls import path

from .views import contacts, download, folders, mail, message, outbox

app_name = "mailbox"
urlpatterns = [
    path("", mail.mail_home, name="home"),
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
