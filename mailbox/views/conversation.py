"""A conversation in the reading pane: its messages across the account's folders, oldest first.

Older messages are one line each (sender, preview, date) whose body the page loads when it is
opened (``?part=thread-item`` of the message's own view); unread ones, the newest and the one
the list's row stands for are open. Each body is the reading pane's own (a sandboxed frame from
its own URL, or the text), so several fit on one page.
"""

from accounts.models import get_preferences
from mailbox import conversations


def conversation_for(request, message):
    """The messages to show for ``message`` as a conversation (oldest first), or None: the
    user reads one message at a time, or ``?single=1`` asked for it alone, or it is alone."""
    if request.GET.get("single") == "1" or not get_preferences(request.user).conversations:
        return None
    thread = conversations.thread_messages(message)
    return thread if len(thread) > 1 else None


def conversation_pane(request, message, thread, reading_pane):
    """The context of the conversation pane; ``reading_pane(request, message)`` gives each
    open message's body, as the single-message pane has it (and marks it read as it does)."""
    newest = thread[-1]
    items, delays = [], []
    for row in thread:
        is_open = row.pk in (message.pk, newest.pk) or not row.seen
        pane = reading_pane(request, row) if is_open else None
        if pane is not None and pane.get("mark_read") is not None:
            delays.append(pane["mark_read"])
        items.append({"message": row, "open": is_open, "pane": pane})
    in_folder = message.folder.messages.filter(thread=message.thread, uid__isnull=False)
    return {
        "message": message,
        "thread_items": items,
        "thread_ids": ",".join(str(pk) for pk in in_folder.values_list("pk", flat=True)),
        "mark_read": min(delays) if delays else None,
    }
