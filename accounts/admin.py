from django.contrib import admin

from .models import MailAccount


@admin.register(MailAccount)
class MailAccountAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "user",
        "incoming_protocol",
        "incoming_host",
        "smtp_host",
        "last_error",
    ]
    list_filter = ["incoming_protocol"]
    search_fields = ["email", "user__username", "incoming_host"]
    exclude = ["incoming_password_encrypted", "smtp_password_encrypted"]
