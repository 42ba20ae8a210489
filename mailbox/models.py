"""The local cache of a mail account: folders, message headers and flags, body parts, and the
changes made here that are still on their way to the server.

Messages are keyed by (folder, uidvalidity, uid), as the server keys them. URLs use our own ids.
A message moved or copied here but not yet confirmed by the server has ``uid = None``.

A POP3 account's mail lives here, in local folders that work like a server's: each folder hands
out its own UIDs (``uidnext``) under a fixed UIDVALIDITY, and each message's raw bytes are kept
in the mail storage (``raw_name``, see mailbox.sources.rawstore), never in the database.
"""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
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
    # its conversation, across the account's folders (mailbox.sync.threads): set as it is cached
    thread = models.BigIntegerField(null=True, blank=True)

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
            # the lists across accounts (mailbox.listing_unified): Unread and Starred by date
            models.Index(
                fields=["folder", "-date", "-id"],
                condition=models.Q(seen=False),
                name="message_unseen_date",
            ),
            models.Index(
                fields=["folder", "-date", "-id"],
                condition=models.Q(flagged=True),
                name="message_flagged_date",
            ),
            models.Index(fields=["message_id"], name="message_message_id"),
            # conversations: a folder's list (its newest message per conversation) and opening one
            models.Index(fields=["folder", "thread", "-date", "-id"], name="message_folder_thread"),
            models.Index(fields=["thread"], name="message_thread"),
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


class ThreadKey(models.Model):
    """What threading remembers of an account (mailbox.parsing.threading): a 64-bit key (of a
    Message-ID, or of a normalized subject) -> the conversation it belongs to. ``date``: a
    subject key's newest message, for the subject fallback's time window."""

    # One index, the key itself: a sync inserts thousands of keys a batch, and each index more
    # is a write more for each. A merge (rare: two conversations linked) finds the keys of a
    # conversation by scanning the account's keys instead.
    pk = models.CompositePrimaryKey("account", "key")
    account = models.ForeignKey(  # the primary key's first column serves its lookups
        MailAccount, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.BigIntegerField()
    thread = models.BigIntegerField()
    date = models.DateTimeField(null=True)

    def __str__(self):
        return f"{self.key} -> {self.thread}"


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


class Contact(models.Model):
    """Someone the user wrote to or heard from: the recipients' autocomplete. Collected from
    sent mail and from the senders of messages the user opened."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=320)  # lower case
    name = models.CharField(max_length=200, blank=True)
    uses = models.PositiveIntegerField(default=1)  # writes count more than reads (mailbox.compose)
    last_used = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "address"], name="contact_unique_address")
        ]
        indexes = [models.Index(fields=["user", "-uses", "-last_used"], name="contact_rank")]

    def __str__(self):
        return f"{self.name} <{self.address}>" if self.name else self.address


class ComposeMode(models.TextChoices):
    NEW = "new", _("New message")
    REPLY = "reply", _("Reply")
    REPLY_ALL = "reply_all", _("Reply all")
    FORWARD = "forward", _("Forward")
    FORWARD_ATTACHED = "forward_att", _("Forward as attachment")
    EDIT = "edit", _("Edit draft")


class Draft(models.Model):
    """A message being written: the compose screen's state, saved as the user types.

    Its copy on the server (an IMAP account's Drafts, APPENDed) or in the local Drafts (a POP3
    account's) is ``copy_folder`` / ``copy_uid``; ``version`` counts saves here and
    ``copy_version`` the one that copy holds, so that the copy is replaced only by newer text.
    A draft being sent stays here (``outbox``) until the server accepted it: "Undo" returns it
    to the editor."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    identity = models.ForeignKey(
        "accounts.Identity", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    mode = models.CharField(max_length=11, choices=ComposeMode.choices, default=ComposeMode.NEW)
    original = models.ForeignKey(  # the message replied to or forwarded
        Message, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    to = models.TextField(blank=True)  # as typed: "Name <a@b>, c@d"
    cc = models.TextField(blank=True)
    bcc = models.TextField(blank=True)
    subject = models.TextField(blank=True)
    is_html = models.BooleanField(default=False)
    text = models.TextField(blank=True)  # the plain body, or the text of the formatted one
    html = models.TextField(blank=True)  # the formatted body as the editor gave it
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.TextField(blank=True)
    message_id = models.CharField(max_length=255)  # kept across versions and by the sent message
    version = models.PositiveIntegerField(default=0)
    copy_folder = models.ForeignKey(Folder, on_delete=models.SET_NULL, null=True, related_name="+")
    copy_uidvalidity = models.BigIntegerField(null=True)
    copy_uid = models.BigIntegerField(null=True)
    copy_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.subject or "(no subject)"


class DraftAttachment(models.Model):
    """A file attached to a draft: uploaded (kept in the mail storage under ``stored_name``) or
    re-used from the original message's part ``section`` without uploading it again."""

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.BigIntegerField(default=0)  # bytes, decoded
    stored_name = models.CharField(max_length=255, blank=True)
    source = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, related_name="+")
    section = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.filename


class OutboxState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class OutboxMessage(models.Model):
    """A message on its way out over SMTP (mailbox.sync.outbox).

    Claimed by a conditional update (queued -> sending), never sent twice: ``stage`` "data" is
    written before the DATA command, and a claim found stale past it is not sent again but
    failed for the user to check. ``raw`` is the message as transmitted (no Bcc header);
    ``bcc`` goes back into the one copy filed in Sent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    draft = models.OneToOneField(Draft, on_delete=models.SET_NULL, null=True, related_name="outbox")
    state = models.CharField(max_length=8, choices=OutboxState.choices, default=OutboxState.QUEUED)
    send_at = models.DateTimeField()  # the undo delay's end, a chosen time, or the next retry
    scheduled = models.BooleanField(default=False)  # "send later": shown and editable as such
    first_try_at = models.DateTimeField(null=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True)
    stage = models.CharField(max_length=8, blank=True)  # "", "rcpt", "data": how far it got
    raw = models.BinaryField()
    bcc = models.TextField(blank=True)  # the Bcc header's value, for the Sent copy only
    envelope_from = models.CharField(max_length=320)
    recipients = models.JSONField(default=list)  # addresses for RCPT TO
    refused = models.JSONField(default=dict)  # address -> the server's words
    error = models.TextField(blank=True)  # the last failure, in the server's own words
    subject = models.TextField(blank=True)  # for the Outbox view
    to_display = models.TextField(blank=True)
    message_id = models.CharField(max_length=255)
    original = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, related_name="+")
    original_flag = models.CharField(max_length=16, blank=True)  # "\\Answered" or "$Forwarded"
    copy_state = models.CharField(max_length=8, blank=True)  # "", "saving", "done", "skipped"
    sent_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["send_at"], condition=models.Q(state="queued"), name="outbox_due"),
        ]

    def __str__(self):
        return self.subject or "(no subject)"


class SearchEntry(models.Model):
    """A message's place in the local full-text index (mailbox.fulltext).

    Made with the message's headers as it is cached; ``body_done`` once its text (text parts,
    attachment names, forwarded messages) was added by the background pass, which takes the
    newest messages without it first. PostgreSQL keeps the words here (``document``, a GIN
    index made by the migration); SQLite keeps them in the FTS5 table ``mailbox_fulltext``,
    whose row for a message is deleted by a trigger when this row is (FTS5 has no cascade)."""

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, primary_key=True, related_name="search_entry"
    )
    body_done = models.BooleanField(default=False)
    document = SearchVectorField(null=True)  # PostgreSQL only; NULL on SQLite

    class Meta:
        indexes = [
            # the background pass's queue: only messages whose text is still to index
            models.Index(
                fields=["message"], condition=models.Q(body_done=False), name="searchentry_todo"
            ),
        ]

    def __str__(self):
        return f"{self.message_id}{' (text)' if self.body_done else ''}"
