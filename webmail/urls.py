from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter

from accounts import twofactor
from accounts import views as account_views

from . import converters, views

register_converter(converters.IdConverter, "id")
handler500 = "webmail.views.server_error"  # 503 while the database does not answer

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("login/", twofactor.LoginView.as_view(), name="login"),
    path("login/code/", twofactor.login_code, name="login_code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("mail/", include("mailbox.urls")),
    path("admin/", admin.site.urls),
]
