"""Writing mail, as pure functions over strings and bytes (no Django, nothing of ours imported
but mailbox.parsing): the message as sent (build.py, its header fields encoded and folded by
headers.py), the header fields a user types (fields.py), what a reply or a forward starts from
(reply.py), and the plain-text part of formatted mail (text.py)."""
