"""Pure parsing of what an IMAP server sends: header fields and BODYSTRUCTURE. No Django here.

headers.py (with addresses.py, dates.py and charsets.py) reads the fields a message list
needs; bodystructure.py turns BODYSTRUCTURE into a part tree and says what a reader fetches.
"""

from .bodystructure import (
    BodyPart,
    BodyStructureError,
    find_parts,
    has_attachments,
    is_attachment,
    parse_bodystructure,
    tree_has_attachments,
)
from .headers import FETCH_FIELDS, HeaderFields, parse_header_fields

__all__ = [
    "FETCH_FIELDS",
    "BodyPart",
    "BodyStructureError",
    "HeaderFields",
    "find_parts",
    "has_attachments",
    "is_attachment",
    "parse_bodystructure",
    "parse_header_fields",
    "tree_has_attachments",
]
