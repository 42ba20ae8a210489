"""Writing mail, as pure functions over strings and bytes (no Django, nothing of ours imported
but mailbox.parsing): the message as sent (build.py), the header fields a user types (fields.py),
and what a reply or a forward starts from (reply.py)."""
