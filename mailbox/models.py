"""The local cache of a mail account: folders, message headers and flags, body parts, and the
changes made here that are still on their way to the server.

Messages are keyed by (folder, uidvalidity, uid), as the server keys them. URLs use our own ids.
A message moved or copied here but not yet confirmed by the server has ``uid = None``.

A POP3 account's mail lives here, in local folders that work like a server's: each folder hands
out its own UIDs (``uidnext``) under a fixed UIDVALIDITY, and each message's raw bytes are kept
in the mail storage (``raw_name``, see mailbox.sources.rawstore), never in the database.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Coalesce, Lower, NullIf, Substr
from django.utils.translation import gettext_lazy as _

from accounts.models import MailAccount


class Role(models.TextChoices):
    INBOX = "inbox", _("Inbox")
    DRAFTS = "drafts", _("Drafts")
    SENT = "sent", _("Sent")
    ARCHIVE = "archive", _("Archive")
    JUNK = "junk", _("Junk")
    TRASH = "trash", _("Trash")
    ALL = "all", _("All mail")
    FLAGGED = "flagged", _("Flagged")


class Folder(models.Model):
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=1000)  # the full path, decoded, with the server's delimiter
    delimiter = models.CharField(max_length=1, blank=True)
    role = models.CharField(max_length=8, choices=Role.choices, blank=True)
    subscribed = models.BooleanField(default=True)
    selectable = models.BooleanField(default=True)

    # What the server said at the last complete sync (RFC 4549): only stored once applied.
    uidvalidity = models.BigIntegerField(null=True)
    uidnext = models.BigIntegerField(null=True)
    highestmodseq = models.BigIntegerField(null=True)
    server_messages = models.IntegerField(null=True)  # STATUS MESSAGES at that sync
    backfill_done = models.BooleanField(default=False)  # every message then present is cached

    total = models.IntegerField(default=0)
    unread = models.IntegerField(default=0)
    synced_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="folder_unique_name")
        ]
        ordering = ["account", "name"]

    def __str__(self):
        return self.name

    @property
    def parent_name(self):
        if self.delimiter and self.delimiter in self.name:
            return self.name.rsplit(self.delimiter, 1)[0]
        return None

    @property
    def leaf_name(self):
        return self.name.rsplit(self.delimiter, 1)[-1] if self.delimiter else self.name


SYSTEM_FLAGS = {
    "\\seen": "seen",
    "\\answered": "answered",
    "\\flagged": "flagged",
    "\\deleted": "deleted",
    "\\draft": "draft",
}


class Message(models.Model):
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="messages")
    uidvalidity = models.BigIntegerField()
    uid = models.BigIntegerField(null=True)  # None: moved or copied here, not yet confirmed

    date = models.DateTimeField()  # the Date header, or the arrival time when it has none
    internaldate = models.DateTimeField()
    from_name = models.CharField(max_length=200, blank=True)
    from_address = models.CharField(max_length=320, blank=True)
    to = models.TextField(blank=True)
    cc = models.TextField(blank=True)
    subject = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.TextField(blank=True)  # space-separated Message-IDs, the last 50
    content_type = models.CharField(max_length=100, blank=True)
    size = models.IntegerField(default=0)
    has_attachments = models.BooleanField(default=False)
    bodystructure = models.BinaryField(default=b"")  # raw, parsed when the message is opened
    preview = models.CharField(max_length=300, blank=True)
    # Sort keys of the message list (mailbox.listing), computed and stored by the database so that
    # each has a plain index: SQLite matches an index on an expression only when the query spells
    # it identically, and Django sends an expression's literals as parameters.
    sender_key = models.GeneratedField(
        expression=Lower(Coalesce(NullIf("from_name", models.Value("")), "from_address")),
        output_field=models.CharField(max_length=320),
        db_persist=True,
    )
    subject_key = models.GeneratedField(  # bounded: a btree entry has a size limit
        expression=Substr(Lower("subject"), 1, 100),
        output_field=models.CharField(max_length=100),
        db_persist=True,
    )

    seen = models.BooleanField(default=False)
    answered = models.BooleanField(default=False)
    flagged = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    draft = models.BooleanField(default=False)
    keywords = models.CharField(max_length=1000, blank=True)  # space-separated, as on the server
    modseq = models.BigIntegerField(null=True)
    # kept here: its name in the storage ("" for a message on an IMAP server; the default in the
    # database too, since the IMAP sync COPYs rows without it)
    raw_name = models.CharField(max_length=255, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["folder", "uidvalidity", "uid"], name="message_unique_uid"
            )
        ]
        indexes = [
            models.Index(fields=["folder", "-date", "-id"], name="message_folder_date"),
            # unread counts read this small index: only unread messages are in it
            models.Index(
                fields=["folder"], condition=models.Q(seen=False), name="message_folder_unseen"
            ),
            models.Index(fields=["message_id"], name="message_message_id"),
            # The list's other sort orders (mailbox.listing: the same expressions)
            models.Index(fields=["folder", "sender_key", "id"], name="message_folder_sender"),
            models.Index(fields=["folder", "subject_key", "id"], name="message_folder_subject"),
            models.Index(fields=["folder", "size", "id"], name="message_folder_size"),
            # mail kept here: which rows still name a raw file
            models.Index(
                fields=["raw_name"], condition=~models.Q(raw_name=""), name="message_raw_name"
            ),
        ]

    def __str__(self):
        return self.subject or "(no subject)"

    @property
    def flags(self):
        """Every flag and keyword as the server spells them."""
        system = [f"\\{attr.title()}" for attr in SYSTEM_FLAGS.values() if getattr(self, attr)]
        return tuple(system + self.keywords.split())


class BodyPart(models.Model):
    """A fetched body part (BODY.PEEK[section]), decoded; evicted oldest-used first per account."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="parts")
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    section = models.CharField(max_length=64)
    data = models.BinaryField()
    size = models.IntegerField()
    used_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "section"], name="bodypart_unique")
        ]
        indexes = [models.Index(fields=["account", "used_at"], name="bodypart_account_used")]

    def __str__(self):
        return f"{self.message_id}[{self.section}]"


class ChangeKind(models.TextChoices):
    FLAGS = "flags"
    MOVE = "move"
    COPY = "copy"
    EXPUNGE = "expunge"


class PendingChange(models.Model):
    """A change made here, already shown in the cache, on its way to the server.

    ``undo`` holds what the cache showed before, per message id, so that a change the server
    refuses can be rolled back. Applied first-in, first-out by ``sync.push_pending``.
    """

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="+")
    uidvalidity = models.BigIntegerField()
    uids = models.JSONField(default=list)
    message_ids = models.JSONField(default=list)  # our ids, in the order of ``uids``
    kind = models.CharField(max_length=8, choices=ChangeKind.choices)
    add_flags = models.JSONField(default=list)
    remove_flags = models.JSONField(default=list)
    target = models.ForeignKey(Folder, on_delete=models.CASCADE, null=True, related_name="+")
    undo = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.kind} {len(self.uids)} in {self.folder_id}"


class Pop3Download(models.Model):
    """A message downloaded from a POP3 server, known by its UIDL (RFC 1939), or by a digest of
    its header block on a server without UIDL. Kept while the server still lists the message,
    so that it is never downloaded twice, even after it was deleted here."""

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    uidl = models.CharField(max_length=255)
    downloaded_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "uidl"], name="pop3download_unique_uidl")
        ]

    def __str__(self):
        return self.uidl


class TrustedSender(models.Model):
    """A sender whose mail shows remote content (images, fonts) without asking each time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=320)  # lower case
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "address"], name="trustedsender_unique")
        ]

    def __str__(self):
        return self.address
