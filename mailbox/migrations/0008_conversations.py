import django.db.models.deletion
from django.db import migrations, models

BATCH = 2000


def thread_cached_mail(apps, schema_editor):
    """Mail cached before conversations existed: threaded as the sync would have, a batch of
    each account at a time, oldest first (so that a conversation is named after its first
    message). Historical models only; the rules come from the pure module."""
    import secrets

    from mailbox.parsing.threading import Mail, keys_of, plan, thread_id_for

    account_model = apps.get_model("accounts", "MailAccount")
    message_model = apps.get_model("mailbox", "Message")
    key_model = apps.get_model("mailbox", "ThreadKey")
    for account_id in account_model.objects.values_list("pk", flat=True):
        messages = message_model.objects.filter(folder__account_id=account_id, thread=None)
        fields = ["pk", "message_id", "in_reply_to", "references", "subject", "date"]
        last = 0
        while batch := list(messages.filter(pk__gt=last).order_by("pk").only(*fields)[:BATCH]):
            last = batch[-1].pk
            mails = [Mail.of(m.message_id, m.in_reply_to, m.references, m.subject, m.date)
                     for m in batch]  # fmt: skip
            wanted = list({key for mail in mails for key in keys_of(mail)})
            known = {}
            for start in range(0, len(wanted), 500):
                stored = key_model.objects.filter(
                    account_id=account_id, key__in=wanted[start : start + 500]
                )
                known.update({row.key: _known(row) for row in stored})
            result = plan(mails, known, lambda _i, mail, a=account_id: thread_id_for(
                a, mail.message_id, secrets.randbits(53)))  # fmt: skip
            for old, new in result.merges.items():
                message_model.objects.filter(thread=old, folder__account_id=account_id).update(
                    thread=new
                )
                key_model.objects.filter(account_id=account_id, thread=old).update(thread=new)
            key_model.objects.bulk_create(
                [
                    key_model(account_id=account_id, key=key, thread=entry.thread, date=entry.date)
                    for key, entry in result.new_keys.items()
                ]  # fmt: skip
            )
            for key, entry in result.changed_keys.items():
                key_model.objects.filter(account_id=account_id, key=key).update(
                    thread=entry.thread, date=entry.date
                )
            for message, thread in zip(batch, result.threads, strict=True):
                message.thread = thread
            message_model.objects.bulk_update(batch, ["thread"], batch_size=500)


def _known(row):
    from mailbox.parsing.threading import Known

    return Known(row.thread, row.date)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_identities_and_sending"),
        ("mailbox", "0007_unified_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ThreadKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "account",
                        "key",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.mailaccount",
                    ),
                ),
                ("key", models.BigIntegerField()),
                ("thread", models.BigIntegerField()),
                ("date", models.DateTimeField(null=True)),
            ],
        ),
        migrations.AddField(
            model_name="message",
            name="thread",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["folder", "thread", "-date", "-id"], name="message_folder_thread"
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(fields=["thread"], name="message_thread"),
        ),
        migrations.RunPython(thread_cached_mail, migrations.RunPython.noop),
    ]
