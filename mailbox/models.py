# Folders, messages and sync state arrive with the IMAP sync issue.
