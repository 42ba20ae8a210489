"""The header fields a user types: checked in one place before any header is written.

RFC 5322 section 2.2: a header field is one line, folded only by us. Any line break that Python's
``str.splitlines`` honours (CR, LF, VT, FF, FS, GS, RS, NEL, LS, PS) or a NUL in a typed value
could add or split a header, so such a value is refused, naming the field."""

import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address as _EmailAddress

from mailbox.parsing.addresses import parse_addresses

LINE_BREAKS = frozenset("\r\n\0\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# a dot-atom local part (RFC 5322 3.4.1; quoted local parts are not accepted) and a host name
_ADDR_SPEC = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_SPACED_ANGLE_ADDRESS = re.compile(r"<([^<>]*\S\s+\S[^<>]*)>")


class BadField(ValueError):
    """A typed value that cannot go into a header: ``field`` names it, ``value`` is the culprit
    (an address, for address fields), ``args[0]`` says why in English."""

    def __init__(self, field, reason, value=""):
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.value = value


def check_line(field: str, value: str) -> str:
    """``value`` unchanged when it holds no line break nor NUL; else BadField."""
    if not LINE_BREAKS.isdisjoint(value):
        raise BadField(field, "a line break or control character", value)
    return value


@dataclass(frozen=True)
class Address:
    """A mailbox: a display name (may be empty, any Unicode) and an addr-spec."""

    name: str
    address: str

    def __str__(self):
        return str(self.as_email(""))

    def as_email(self, field) -> _EmailAddress:
        check_line(field, self.name)
        check_line(field, self.address)
        try:
            return _EmailAddress(display_name=self.name, addr_spec=self.address)
        except (ValueError, IndexError, HeaderParseError) as exc:
            raise BadField(field, "not an email address", self.address) from exc


def check_address(field: str, address: str) -> str:
    """One addr-spec, ``local@domain`` with a dotted domain; else BadField naming it."""
    check_line(field, address)
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or " " in address:
        raise BadField(field, "not an email address", address)
    try:
        _EmailAddress(addr_spec=address)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise BadField(field, "not an email address", address) from exc
    return address


def ascii_address(field: str, address: str) -> str:
    """``address`` as written in a header and given to SMTP: a non-ASCII domain in IDNA (RFC 5890,
    through Python's IDNA 2003 codec). BadField when it is no single address, or when its local
    part is not ASCII (that needs SMTPUTF8, RFC 6531, which we do not send)."""
    check_line(field, address)
    local, at, domain = address.rpartition("@")
    if not local.isascii():
        raise BadField(field, "an address with non-ASCII characters before the @", address)
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise BadField(field, "not an email address", address) from exc
    converted = f"{local}{at}{domain}"
    if not _ADDR_SPEC.fullmatch(converted):
        raise BadField(field, "not an email address", address)
    check_address(field, converted)
    try:  # what Python's parser reads back must be what we write (no comments, no CFWS)
        if _EmailAddress(addr_spec=converted).addr_spec != converted:
            raise BadField(field, "not an email address", address)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise BadField(field, "not an email address", address) from exc
    return converted


# one comma- (or semicolon-) separated item of a typed list: quoted strings and <...> kept whole
# (a comma in them does not split), so that each item can be judged on its own
_ITEM = re.compile(r'(?:"[^"\\]*(?:\\.[^"\\]*)*"?|<[^<>]*>?|[^,;"<]+)+')
_QUOTED_OR_ANGLE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|<[^<>]*>?')

# why a typed item is refused, beyond "not an email address" (BadField.reason; the view words them)
TWO_ADDRESSES = "several addresses without commas"
ADDRESS_IN_NAME = "an address in the name"
HEADER_NAME = "a header name"


def _items(text: str) -> list[str]:
    """The comma- or semicolon-separated items of ``text``, stripped, the empty ones left out."""
    return [item.strip() for item in _ITEM.findall(text) if item.strip()]


def _check_item(field: str, item: str) -> None:
    """BadField for a typed item the lenient reader would silently read as something else:
    "a@b.org c@d.org" (one address, named "a@b.org"), "a@b.org Bcc: x@y.org" (a group whose
    members only are kept), a name with an address in it or ending in ":"."""
    bare = _QUOTED_OR_ANGLE.sub(" ", item)
    if ":" in bare:
        raise BadField(field, HEADER_NAME, item)
    words = bare.split()
    if "<" not in item and len(words) > 1 and sum("@" in word for word in words) > 1:
        raise BadField(field, TWO_ADDRESSES, item)


def _check_name(field: str, item: str, name: str, address: str) -> None:
    # a name that is the address itself ("bob@x.org" <bob@x.org>, common in replies) misleads no one
    if "@" in name and name.strip().lower() != address.lower():
        raise BadField(field, ADDRESS_IN_NAME, item)
    if name.rstrip().endswith(":"):
        raise BadField(field, HEADER_NAME, item)


def parse_address_field(field: str, text: str) -> list[Address]:
    """The addresses typed in a To/Cc/Bcc/Reply-To box ("Ann <a@b.org>, c@d.org"), in order,
    each checked; BadField names the first bad item (``value``: the item as typed, e.g.
    "not an address"; ``reason``: "not an email address", TWO_ADDRESSES, ADDRESS_IN_NAME,
    HEADER_NAME...). An empty box is an empty list."""
    check_line(field, text)
    found = []
    for item in _items(text):
        spaced = _SPACED_ANGLE_ADDRESS.search(item)
        if spaced:  # the reader's parser would silently join "<a b@c.org>" into "ab@c.org"
            raise BadField(field, "not an email address", spaced.group(1).strip())
        _check_item(field, item)
        mailboxes = [(n, a) for n, a in parse_addresses(item) if a]
        if len(mailboxes) != 1:
            raise BadField(field, "not an email address", item)
        name, address = mailboxes[0]
        _check_name(field, item, name, address)
        try:
            ascii_address(field, address)  # refused here, before anything is sent
        except BadField as bad:
            raise BadField(field, bad.reason, address if "<" in item else item) from None
        found.append(Address(name, address))
    return found
