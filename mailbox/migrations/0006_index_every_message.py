"""An index entry (its headers) for every message cached before the index existed.

Every path that caches a message indexes its headers at once (mailbox.sync.store, local,
actions, push); mail cached before 0005 had none until its account's next index pass. With an
entry for every message, the search asks only the queue of entries waiting for their text
(mailbox.sync.index.has_unindexed_text) instead of looking for messages without an entry among
every message of the folders before each search (0.1-0.35 s at 100,000 messages)."""

from django.db import migrations


def index_every_message(apps, schema_editor):
    from mailbox.fulltext import get_index  # the engine's own SQL (tsvector or FTS5)

    get_index().index_headers("1 = 1", [])


class Migration(migrations.Migration):
    dependencies = [("mailbox", "0005_index")]

    operations = [migrations.RunPython(index_every_message, migrations.RunPython.noop)]
