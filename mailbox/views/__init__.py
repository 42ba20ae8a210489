"""The mail views, one module per screen: ``mail`` (folder tree, list, search, actions on
selected messages), ``message`` (the reading pane and the body's frame), ``download``
(attachments, previews, the original, header details) and ``folders`` (the folder page)."""
