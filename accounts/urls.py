from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("", views.account_list, name="list"),
    path("add/", views.account_add, name="add"),
    path("<id:account_id>/", views.account_edit, name="edit"),
    path("<id:account_id>/delete/", views.account_delete, name="delete"),
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/theme/", views.theme, name="theme"),
    path("preferences/senders/<id:sender_id>/forget/", views.forget_sender, name="forget_sender"),
]
