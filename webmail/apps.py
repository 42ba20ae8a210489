from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin with our site: two-factor login for those who turned it on."""

    default_site = "accounts.admin_site.AdminSite"
