"""The lists across accounts (mailbox.listing_unified): Unread and Starred walk the unread and
the flagged messages of each folder by date, on indexes that hold only those."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailbox", "0006_index_every_message"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("seen", False)),
                fields=["folder", "-date", "-id"],
                name="message_unseen_date",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("flagged", True)),
                fields=["folder", "-date", "-id"],
                name="message_flagged_date",
            ),
        ),
    ]
