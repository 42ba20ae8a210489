from django.urls import path

from . import views, views_download, views_read

app_name = "mailbox"
urlpatterns = [
    path("", views_read.mail_home, name="home"),
    path("accounts/<int:account_id>/folders/", views.folder_list, name="folders"),
    path("accounts/<int:account_id>/folders/create/", views.folder_create, name="folder_create"),
    path("accounts/<int:account_id>/sync/", views.account_sync, name="account_sync"),
    path("folders/<int:folder_id>/rename/", views.folder_rename, name="folder_rename"),
    path("folders/<int:folder_id>/delete/", views.folder_delete, name="folder_delete"),
    path("folders/<int:folder_id>/subscribe/", views.folder_subscribe, name="folder_subscribe"),
    path("accounts/<int:account_id>/", views_read.account_inbox, name="account_inbox"),
    path("folders/<int:folder_id>/", views_read.folder_messages, name="folder_messages"),
    path("folders/<int:folder_id>/search/", views_read.search, name="search"),
    path("messages/<int:message_id>/", views_read.message_view, name="message"),
    path("messages/<int:message_id>/body/", views_read.message_body, name="message_body"),
    path("messages/<int:message_id>/cid/<path:cid>/", views_read.message_cid, name="message_cid"),
    path(
        "messages/<int:message_id>/trust-sender/",
        views_read.trust_sender,
        name="trust_sender",
    ),
    path("messages/action/", views.message_action, name="message_action"),
    path(
        "messages/<int:message_id>/parts/<str:section>/",
        views_download.part_download,
        name="part_download",
    ),
    path(
        "messages/<int:message_id>/original/",
        views_download.message_original,
        name="message_original",
    ),
    path(
        "messages/<int:message_id>/headers/",
        views_download.message_headers,
        name="message_headers",
    ),
    path(
        "messages/<int:message_id>/parts/<str:section>/preview/",
        views_download.part_preview,
        name="part_preview",
    ),
]
