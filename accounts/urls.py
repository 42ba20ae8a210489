from django.urls import path

from . import twofactor, views

app_name = "accounts"
urlpatterns = [
    path("", views.account_list, name="list"),
    path("add/", views.account_add, name="add"),
    path("<id:account_id>/", views.account_edit, name="edit"),
    path("<id:account_id>/delete/", views.account_delete, name="delete"),
    path("<id:account_id>/identities/", views.identity_list, name="identities"),
    path("<id:account_id>/identities/add/", views.identity_add, name="identity_add"),
    path("identities/<id:identity_id>/", views.identity_edit, name="identity_edit"),
    path("identities/<id:identity_id>/delete/", views.identity_delete, name="identity_delete"),
    path("identities/<id:identity_id>/default/", views.identity_default, name="identity_default"),
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/theme/", views.theme, name="theme"),
    path("preferences/list-width/", views.list_width, name="list_width"),
    path("preferences/list-width.css", views.list_width_css, name="list_width_css"),
    path("preferences/senders/<id:sender_id>/forget/", views.forget_sender, name="forget_sender"),
    path("preferences/two-factor/", twofactor.overview, name="two_factor"),
    path("preferences/two-factor/start/", twofactor.start, name="two_factor_start"),
    path("preferences/two-factor/confirm/", twofactor.confirm, name="two_factor_confirm"),
    path("preferences/two-factor/codes/", twofactor.recovery_codes, name="recovery_codes"),
    path("preferences/two-factor/off/", twofactor.turn_off, name="two_factor_off"),
]
