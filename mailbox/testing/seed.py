"""Realistic demo and test mail, and a quick way to put it into an IMAP server. No Django here.

:func:`generate_messages` (or the lazy :func:`iter_messages`) makes ``(folder, flags, internaldate,
message bytes)`` tuples, deterministic for a seed: about forty senders (some with non-ASCII names,
so RFC 2047 shows up), plain text (some format=flowed), newsletters with remote images and tables,
attachments (a real PNG, a real PDF, CSV and text files), inline ``cid:`` images, threads with
In-Reply-To/References and quoted replies, several folders, flags.

Speed: a later benchmark makes 100,000 messages, and running every message through
``EmailMessage.as_bytes()`` costs about a millisecond each. So the email package (policy SMTP)
encodes every header value that needs it (RFC 2047, folding; memoised per distinct value) and
every attachment part (memoised per variant and file name), and each message is then put
together from those pieces in exactly the layout BytesGenerator writes: the tests check that
``message_from_bytes(raw, policy=SMTP).as_bytes() == raw`` for every message. The text bodies
are ASCII (7bit) unless a name makes them UTF-8, then they are quoted-printable.

:func:`seed_imap` appends to any logged-in ``imaplib.IMAP4``, with MULTIAPPEND batches when the
server offers MULTIAPPEND and LITERAL+ (Dovecot does), else one APPEND per message.
:func:`seed_account` connects with :func:`mailbox.protocols.imap.connect` and does it all.
"""

import binascii
import bisect
import datetime
import functools
import html
import imaplib
import itertools
import math
import random
import re
import struct
import textwrap
import zlib
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import MIMEPart
from email.policy import SMTP
from email.utils import format_datetime

from mailbox.protocols.imap.names import quote_mailbox

__all__ = [
    "DEFAULT_FOLDERS",
    "generate_messages",
    "iter_messages",
    "seed_account",
    "seed_imap",
]

DEFAULT_FOLDERS = {
    "INBOX": 70,
    "Archive": 10,
    "Sent": 10,
    "Projects/Garden": 5,
    "Receipts": 5,
}

SEEN, ANSWERED, FLAGGED = "\\Seen", "\\Answered", "\\Flagged"
CRLF = "\r\n"
HISTORY_DAYS = 548  # about 18 months
NEWEST_UNSEEN = 20
THREAD_LENGTHS = (2, 2, 3, 3, 4, 5, 6)
# a message starts a thread with this probability; with the mean length above, ~15% are replies
THREAD_START = 0.15 / ((sum(THREAD_LENGTHS) / len(THREAD_LENGTHS) - 1) * 0.85)
THREAD_SHARE = 0.205  # measured: the share of all messages that are in threads (root or reply)
THREAD_USER_SHARE = 0.25  # measured: the share of those that the user wrote
# of all mail: text/plain, multipart/alternative with a newsletter, multipart/mixed with
# attachments, multipart/alternative+related with a cid: image, and single-part text/html
KIND_WEIGHTS = {"plain": 60, "alternative": 20, "attachment": 10, "related": 5, "html": 5}


# --- who writes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    name: str
    address: str
    first: str
    tz_minutes: int = 0
    lang: str = "en"
    role: str = "person"  # person, newsletter, shop, notification
    garden: bool = False
    brand: str = ""  # newsletters/shops/notifications: which content templates

    @functools.cached_property
    def header(self):
        """The mailbox as written in a header: quoted when the display name needs it."""
        local, _, domain = self.address.partition("@")
        return str(Address(self.name, local, domain))

    @functools.cached_property
    def tz(self):
        return datetime.timezone(datetime.timedelta(minutes=self.tz_minutes))

    @property
    def personal(self):
        return self.role in ("person", "user")

    @property
    def domain(self):
        return self.address.partition("@")[2]


def _person(name, address, first, tz_hours=0, lang="en", garden=False):
    return Sender(name, address, first, round(tz_hours * 60), lang, "person", garden)


PEOPLE = (
    _person("Zoë Dupré", "zoe.dupre@example.fr", "Zoë", 1, "fr", garden=True),
    _person("Jürgen Müller", "juergen.mueller@example.de", "Jürgen", 1, "de"),
    _person("小林 健", "kobayashi.ken@example.jp", "健", 9, "ja"),
    _person("José Álvarez", "jose.alvarez@example.es", "José", 1, "es"),
    _person("Ólafur Sigurðsson", "olafur@example.is", "Ólafur", 0),
    _person("Łukasz Wiśniewski", "lukasz.w@example.pl", "Łukasz", 1),
    _person("Ольга Смирнова", "olga.smirnova@example.ru", "Ольга", 3, "ru"),
    _person("Νίκος Παπαδόπουλος", "nikos.p@example.gr", "Νίκος", 2, "el"),
    _person("Søren Nielsen", "soren@example.dk", "Søren", 1),
    _person("Anaïs Lefèvre", "anais.lefevre@example.fr", "Anaïs", 1, "fr"),
    _person("Siobhán O'Brien", "siobhan.obrien@example.ie", "Siobhán", 0, garden=True),
    _person("Priya Raghunathan", "priya.r@example.in", "Priya", 5.5),
    _person("Chen Wei", "chen.wei@example.cn", "Wei", 8),
    _person("Maria Rossi", "maria.rossi@example.it", "Maria", 1),
    _person("Tom Becker", "tom.becker@example.com", "Tom", -5),
    _person("Sarah Johnson", "sarah.j@example.org", "Sarah", -8),
    _person("David Okafor", "david.okafor@example.org", "David", 1),
    _person("Emma Clarke", "emma.clarke@example.co.uk", "Emma", 0, garden=True),
    _person("Lucas Martin", "lucas.martin@example.fr", "Lucas", 1, "fr"),
    _person("Hannah Schmidt", "hannah.schmidt@example.de", "Hannah", 1, "de"),
    _person("Dr. Amara Nwosu", "amara.nwosu@example.org", "Amara", 0),
    _person("Mateo García", "mateo.garcia@example.mx", "Mateo", -6, "es"),
    _person("Aiko Tanaka", "aiko.tanaka@example.jp", "Aiko", 9),
    _person("Ben Carter", "ben@garden-club.example.org", "Ben", 0, garden=True),
    _person("Ruth Abernathy", "ruth@garden-club.example.org", "Ruth", 0, garden=True),
    _person("Kwame Mensah", "kwame.mensah@example.org", "Kwame", 0),
    _person("Fatima Zahra El Idrissi-Benali", "fatima.elidrissi@example.ma", "Fatima", 1),
    _person("Ingrid Johansson", "ingrid.j@example.se", "Ingrid", 1, garden=True),
    _person("Noah Williams", "noah.williams@example.com", "Noah", -5),
    _person("Smith, Jonathan", "jsmith@example.com", "Jonathan", -5),
)

ORGS = (
    Sender(
        "The Weekly Gardener",
        "newsletter@weekly-gardener.example.net",
        "",
        0,
        "en",
        "newsletter",
        True,
        "garden",
    ),
    Sender(
        "Café Lumière", "bonjour@cafe-lumiere.example.fr", "", 60, "fr", "newsletter", brand="cafe"
    ),
    Sender(
        "Tech Digest", "digest@techdigest.example.com", "", -300, "en", "newsletter", brand="tech"
    ),
    Sender(
        "City Library", "no-reply@library.example.org", "", 0, "en", "newsletter", brand="library"
    ),
    Sender("日本の園芸クラブ", "info@engei.example.jp", "", 540, "ja", "newsletter", True, "engei"),
    Sender(
        "Northwind Books",
        "receipts@northwind-books.example.com",
        "",
        -300,
        "en",
        "shop",
        brand="books",
    ),
    Sender("Rail Connect", "tickets@railconnect.example.net", "", 60, "en", "shop", brand="rail"),
    Sender(
        "Green Thumb Supplies", "orders@greenthumb.example.com", "", 0, "en", "shop", True, "seeds"
    ),
    Sender("Pixel & Co. Store", "store@pixelco.example.com", "", -480, "en", "shop", brand="pixel"),
    Sender(
        "CodeForge",
        "notifications@codeforge.example.org",
        "",
        0,
        "en",
        "notification",
        brand="forge",
    ),
    Sender(
        "Calendar", "calendar-noreply@example.com", "", 0, "en", "notification", brand="calendar"
    ),
    Sender("Bank of Example", "alerts@bank.example.com", "", 0, "en", "notification", brand="bank"),
)

SENDERS = PEOPLE + ORGS
NEWSLETTERS = tuple(s for s in ORGS if s.role == "newsletter")
SHOPS = tuple(s for s in ORGS if s.role == "shop")
NOTIFIERS = tuple(s for s in ORGS if s.role == "notification")
GARDEN_PEOPLE = tuple(s for s in PEOPLE if s.garden)
GARDEN_ORGS = tuple(s for s in ORGS if s.garden)


# --- what they write --------------------------------------------------------------------------

TOPICS = (
    "the budget",
    "the irrigation plan",
    "Thursday's meeting",
    "the quarterly report",
    "the seed order",
    "our trip to Lisbon",
    "the website redesign",
    "the compost rota",
    "the new office",
    "the book club",
    "next year's plot allocation",
    "the grant application",
    "the conference talk",
    "the hiring plan",
    "the migration",
    "the annual party",
)
GARDEN_TOPICS = (
    "the tomato blight",
    "plot 14",
    "the seed swap",
    "the greenhouse key",
    "the compost delivery",
    "the watering rota",
    "the spring planting plan",
    "the shed roof",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

PERSON_SUBJECTS = (
    "Quick question about {topic}",
    "Notes from {day}",
    "Lunch on {day}?",
    "Following up on {topic}",
    "Draft: {topic} (comments welcome)",
    "Photos from the weekend",
    "Can we move {day}'s call?",
    "A few thoughts on {topic}",
    "Reminder: {topic}",
    "Proposal for {topic}, including budget estimates, the volunteer schedule and the open "
    "questions we still need to settle before spring",
    "Réunion de lundi : ordre du jour et documents à lire",
    "Termin am Donnerstag verschieben?",
    "Übersicht für das dritte Quartal — bitte prüfen",
    "来週の打ち合わせについて",
    "Фотографии с дачи",
    "¿Cenamos el viernes?",
    "🌱 The seedlings are up!",
    "Ταξίδι στην Αθήνα",
    "Re-reading {topic} after the call",
    "Hello from the other side",
)
GARDEN_SUBJECTS = (
    "Watering rota for {day}",
    "What to do about {topic}?",
    "Seed swap on Saturday",
    "Compost delivery next week",
    "Who has {topic}?",
    "Plot inspections — please read",
    "Tomaten, Bohnen und Kürbisse: was wir dieses Jahr pflanzen",
)
HEADLINES = {
    "garden": (
        "Ten bulbs to plant before the frost",
        "Slugs: a field guide",
        "Your autumn checklist",
        "Growing garlic in small spaces",
        "Readers' gardens: the best of the month",
    ),
    "cafe": (
        "Le menu d'automne est arrivé ☕",
        "Soirée jazz vendredi",
        "Nouveaux cafés de saison",
        "Brunch du dimanche : réservez !",
    ),
    "tech": (
        "What's new in the cloud this week",
        "Five tools we liked in {month}",
        "The state of web performance",
        "Inside a 100,000-message mailbox",
    ),
    "library": (
        "Events this month",
        "New arrivals in the reading room",
        "Reminder: items due soon",
        "Summer reading challenge",
    ),
    "engei": ("秋の植え付けガイド", "今月のおすすめ球根", "会員限定セールのお知らせ"),
}
SHOP_ITEMS = {
    "books": (
        ("The Overstory", 18.99),
        ("A Field Guide to Mosses", 24.50),
        ("Python Cookbook", 49.00),
        ("Gift wrap", 3.00),
        ("The Secret Garden", 7.99),
    ),
    "rail": (
        ("Single ticket, 2nd class", 42.30),
        ("Seat reservation", 4.50),
        ("Bicycle ticket", 10.00),
        ("Return ticket, 1st class", 118.00),
    ),
    "seeds": (
        ("Tomato 'Gardener's Delight' seeds", 2.95),
        ("Peat-free compost 40 l", 8.49),
        ("Copper slug tape", 6.99),
        ("Watering can 10 l", 14.99),
        ("Garlic bulbs (x3)", 5.25),
    ),
    "pixel": (
        ("USB-C cable 2 m", 12.90),
        ("Wireless mouse", 29.00),
        ('Laptop sleeve 14"', 24.00),
        ("Screen cleaning kit", 6.50),
    ),
}
NOTIFICATIONS = {
    "forge": (
        "[webmail] {title} (#{n})",
        (
            "Sync stalls on folders with more than 10,000 messages",
            "Quoted-printable soft breaks",
            "Add keyboard shortcut for archive",
            "Flaky test in the SMTP suite",
            "Dark mode for the message list",
        ),
    ),
    "calendar": (
        "Invitation: {title} @ {day} 10:00",
        ("Planning session", "Garden committee", "1:1", "Quarterly review"),
    ),
    "bank": (
        "{title}",
        (
            "Your monthly statement is ready",
            "A new device signed in",
            "Your card payment was declined",
            "Scheduled maintenance",
        ),
    ),
}
GREETINGS = {
    "en": ("Hi {name},", "Hello {name},", "Dear {name},", "Hey {name},", "{name},"),
    "fr": ("Bonjour {name},", "Salut {name},"),
    "de": ("Hallo {name},", "Liebe Grüße vorab, {name}!"),
    "es": ("Hola {name},",),
    "ja": ("{name}さん、こんにちは。",),
    "ru": ("Привет, {name}!",),
    "el": ("Γεια σου {name},",),
}
CLOSINGS = {
    "en": ("Best,", "Cheers,", "Thanks,", "Kind regards,", "See you soon,"),
    "fr": ("Bien à toi,", "À bientôt,"),
    "de": ("Viele Grüße,", "Bis bald,"),
    "es": ("Un abrazo,",),
    "ja": ("よろしくお願いします。",),
    "ru": ("Всего доброго,",),
    "el": ("Φιλιά,",),
}
INTROS = (
    "Following up on {topic}: here is where things stand.",
    "I had another look at {topic} this morning.",
    "Quick update on {topic} before {day}.",
    "Thanks for the notes on {topic}, a few comments below.",
    "As promised, some thoughts about {topic}.",
    "Sorry for the slow reply, {day} was busy.",
)
REPLY_LINES = (
    "Sounds good to me.",
    "Agreed, let's do that.",
    "Thanks, that helps a lot.",
    "I'm not sure about the second point, can we talk on {day}?",
    "Good idea. I'll bring the numbers.",
    "Works for me, see you then.",
    "Let me check and get back to you.",
    "Great, thank you!",
)
_WORDS = (
    "the a of to and in that we it for on with as our this be will have from at they are was "
    "next plan garden plot meeting budget report draft schedule team water seeds compost soil "
    "spring autumn week month morning evening notes question answer idea proposal document "
    "update change review share list order delivery greenhouse tomato beans squash weather rain "
    "sun frost tools shed key rota volunteers members club office project deadline timeline "
    "numbers estimate costs quote invoice payment account travel train station city library "
    "book chapter talk slides conference call video room lunch coffee dinner weekend holiday "
    "photo picture camera path fence gate bench tap hose bed border hedge apple pear plum "
    "quickly carefully probably certainly perhaps maybe already still again soon later early "
    "late small large new old good great simple clear open ready busy free happy useful "
    "think know need want hope expect suggest agree check send bring keep move start finish "
    "build fix write read plant water grow pick cut dig cover order pay book meet"
)
WORDS = tuple(_WORDS.split())


# --- small binary attachments, real and valid ------------------------------------------------


def make_png(width, height, color=(40, 140, 60)):
    """A valid RGB PNG: a little gradient of ``color``."""
    r0, g0, b0 = color
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter type 0 for each scanline
        for x in range(width):
            shade = (x + y) * 96 // max(1, width + height - 2)
            row += bytes((min(255, r0 + shade), min(255, g0 + shade), min(255, b0 + shade)))
        rows.append(bytes(row))

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def _pdf_text(text):
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")


def make_pdf(lines):
    """A valid one-page PDF 1.4 with ``lines`` of Helvetica text and a correct xref table."""
    ops = [b"BT /F1 14 Tf 72 740 Td 18 TL"]
    ops += [b"(" + _pdf_text(line) + b") Tj T*" for line in lines]
    ops.append(b"ET")
    content = b"\n".join(ops)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


PNG_COLORS = ((40, 140, 60), (200, 80, 40), (50, 90, 200), (150, 60, 160), (220, 180, 30))
PNG_NAMES = (
    "photo.png",
    "seedlings.png",
    "diagram.png",
    "screenshot.png",
    "Übersicht.png",
    "写真.png",
)
PDF_NAMES = ("invoice.pdf", "agenda.pdf", "minutes.pdf", "Rechnung-März.pdf", "receipt.pdf")
CSV_NAMES = ("budget.csv", "plants.csv", "expenses.csv", "Übersicht.csv")
TXT_NAMES = ("notes.txt", "todo.txt", "README.txt", "compte-rendu-réunion.txt")
PDF_TITLES = ("Invoice", "Agenda", "Minutes", "Receipt", "Statement")
VARIANTS = 5


@functools.cache
def _png(variant):
    size = 2 + 3 * variant  # 2x2 up to 14x14
    return make_png(size, size, PNG_COLORS[variant % len(PNG_COLORS)])


@functools.cache
def _attachment_part(kind, variant, filename):
    """One attachment part (headers and body), encoded by the email package, memoised."""
    part = MIMEPart(policy=SMTP)
    if kind == "png":
        part.set_content(_png(variant), "image", "png", filename=filename)
    elif kind == "pdf":
        title = PDF_TITLES[variant % len(PDF_TITLES)]
        lines = [f"{title} no. {1000 + variant * 37}", "", "Example Ltd, 1 Example Street"]
        lines += [f"Item {i + 1}: {WORDS[(variant * 7 + i * 3) % len(WORDS)]}" for i in range(4)]
        lines += ["", f"Total: {12.5 * (variant + 1):.2f} EUR"]
        part.set_content(make_pdf(lines), "application", "pdf", filename=filename)
    elif kind == "csv":
        rng = random.Random(variant)
        rows = ["date,description,amount"]
        rows += [
            f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
            f"{rng.choice(WORDS)} {rng.choice(WORDS)},{rng.uniform(1, 200):.2f}"
            for _ in range(5 + 4 * variant)
        ]
        part.set_content(
            "\n".join(rows) + "\n", subtype="csv", disposition="attachment", filename=filename
        )
    else:
        text = "\n\n".join(_paragraphs()[variant * 3 + i].fixed for i in range(1 + variant % 3))
        part.set_content(
            text.replace(CRLF, "\n") + "\n", disposition="attachment", filename=filename
        )
    return part.as_bytes()


@functools.cache
def _inline_png_part(variant):
    """The image of a multipart/related message, without its Content-ID (added per message)."""
    part = MIMEPart(policy=SMTP)
    part.set_content(
        _png(variant), "image", "png", disposition="inline", filename=f"image{variant + 1}.png"
    )
    return part.as_bytes()


# --- text -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Paragraph:
    fixed: str  # lines joined by CRLF, no trailing spaces
    flowed: str  # format=flowed: soft breaks end in a space


@functools.cache
def _paragraphs(count=256):
    """A fixed pool of plausible paragraphs, the same for every seed; wrapped once."""
    rng = random.Random(0x5EED)
    pool = []
    for _ in range(count):
        sentences = []
        for _ in range(rng.randint(2, 6)):
            words = rng.choices(WORDS, k=rng.randint(6, 18))
            sentence = " ".join(words)
            sentences.append(sentence[0].upper() + sentence[1:] + rng.choice("....?!"))
        lines = textwrap.wrap(" ".join(sentences), 72)
        pool.append(_Paragraph(CRLF.join(lines), (" " + CRLF).join(lines)))
    return tuple(pool)


@functools.cache
def _mean_paragraph_size():
    pool = _paragraphs()
    return sum(len(p.fixed) for p in pool) / len(pool)


# --- headers --------------------------------------------------------------------------------

_FOLDED = {}


def _header(name, value):
    """``Name: value`` CRLF as BytesGenerator with policy SMTP writes it."""
    if value.isascii() and len(name) + 2 + len(value) <= 78 and "\n" not in value:
        return f"{name}: {value}\r\n"  # what the email package writes for it, as-is
    folded = _FOLDED.get((name, value))
    if folded is None:
        folded = _rewrap(SMTP.header_factory(name, value).fold(policy=SMTP))
        _FOLDED[(name, value)] = folded
    return folded


def _rewrap(folded, width=78):
    """Fold again at the spaces, filling lines up to ``width``.

    The email package sometimes folds right after the colon ("Subject:" CRLF " long...");
    valid, but parsing and writing it again gives "Subject: " with a trailing space. Folding only
    ever puts CRLF before a space that is there anyway, so this keeps the unfolded value.
    """
    words = folded.rstrip("\r\n").replace("\r\n", "").split(" ")
    if len(words) < 2:
        return folded
    lines, line = [], words[0] + " " + words[1]
    for word in words[2:]:
        if word and len(line) + 1 + len(word) > width and line.strip():
            lines.append(line)
            line = " " + word
        else:
            line += " " + word
    lines.append(line)
    return CRLF.join(lines) + CRLF


def _id_list_header(name, ids):
    """References: one message id per line, which is a valid fold and never too long."""
    return f"{name}: " + "\r\n ".join(ids) + CRLF


# --- the plan: who sends what when, before any bytes -----------------------------------------


@dataclass(eq=False)
class _Spec:
    index: int
    date: datetime.datetime  # aware, UTC: when it was written
    folder: str
    kind: str
    author: Sender
    to: list
    cc: list = field(default_factory=list)
    subject: str = ""
    topic: str = ""
    msgid: str = ""
    parent: "_Spec | None" = None
    references: tuple = ()
    flags: set = field(default_factory=set)
    children: int = 0
    text: str = ""  # kept for quoting, only when the message has replies
    arrival: datetime.datetime | None = None  # when it reached the mailbox: INTERNALDATE


def _weighted(rng, weights):
    """A function that picks one of the keys of ``weights`` (name -> weight) with ``rng``."""
    names = list(weights)
    cumulative = list(itertools.accumulate(weights[name] for name in names))
    total = cumulative[-1]
    return lambda: names[bisect.bisect_right(cumulative, rng.random() * total)]


def _age(rng):
    """Seconds before now: skewed to recent mail, up to HISTORY_DAYS."""
    return int(HISTORY_DAYS * 86400 * rng.random() ** 1.8) + 60


def _message_id(rng, spec, seed):
    stamp = spec.date.strftime("%Y%m%d%H%M%S")
    return f"<{stamp}.{seed:x}.{spec.index:x}.{rng.getrandbits(40):010x}@{spec.author.domain}>"


class _Planner:
    def __init__(self, rng, user, now, folders):
        self.rng = rng
        self.user = user
        self.now = now
        self.folders = folders
        self.has_sent = "Sent" in folders
        # thread mail is all plain text: mail outside threads makes up for it
        kinds = {k: w / sum(KIND_WEIGHTS.values()) for k, w in KIND_WEIGHTS.items()}
        kinds["plain"] = max(0.0, kinds["plain"] - THREAD_SHARE)
        self.pick_kind = _weighted(rng, kinds)
        thread_folders = {
            f: w for f, w in folders.items() if f not in ("Sent", "Receipts") and w > 0
        } or {"INBOX": 1}
        self.pick_thread_folder = _weighted(rng, thread_folders)
        self.pick_folder = _weighted(rng, self.single_weights(folders, thread_folders))

    def single_weights(self, folders, thread_folders):
        """Weights for mail outside threads, so that all mail together matches ``folders``:
        threads add to their own folders, and the user's replies to Sent."""
        total = sum(folders.values())
        thread_total = sum(thread_folders.values())
        user_share = THREAD_USER_SHARE if self.has_sent else 0.0
        contribution = {
            f: THREAD_SHARE * (1 - user_share) * w / thread_total for f, w in thread_folders.items()
        }
        if self.has_sent:
            contribution["Sent"] = THREAD_SHARE * user_share
        weights = {f: max(0.0, w / total - contribution.get(f, 0.0)) for f, w in folders.items()}
        return weights if sum(weights.values()) > 0 else folders

    def subject_for(self, author, garden):
        rng = self.rng
        if author.role == "person":
            template = rng.choice(GARDEN_SUBJECTS if garden else PERSON_SUBJECTS)
            topic = rng.choice(GARDEN_TOPICS if garden else TOPICS)
            return template.format(topic=topic, day=rng.choice(DAYS)), topic
        if author.role == "newsletter":
            headline = rng.choice(HEADLINES[author.brand]).format(
                month=rng.choice(("January", "April", "July", "October"))
            )
            return f"{author.name}: {headline}", headline
        if author.role == "shop":
            number = rng.randint(10000, 99999)
            template = rng.choice(
                (
                    "Your receipt from {name} (#{n})",
                    "Order {n} has shipped",
                    "Order confirmation #{n}",
                )
            )
            return template.format(name=author.name, n=number), str(number)
        template, titles = NOTIFICATIONS[author.brand]
        title = rng.choice(titles)
        return template.format(title=title, n=rng.randint(100, 999), day=rng.choice(DAYS)), title

    def single(self, index):
        rng = self.rng
        folder = self.pick_folder()
        kind = self.pick_kind()
        garden = folder == "Projects/Garden"
        if folder == "Sent":
            if kind in ("alternative", "html"):
                kind = "plain"  # people here write plain text; newsletters come from organisations
            author = self.user
            to = [rng.choice(GARDEN_PEOPLE if rng.random() < 0.2 else PEOPLE)]
        elif folder == "Receipts":
            author, to = rng.choice(SHOPS), [self.user]
        elif kind in ("alternative", "html"):
            pool = GARDEN_ORGS if garden else (NEWSLETTERS + SHOPS + NEWSLETTERS + NOTIFIERS)
            author, to = rng.choice(pool), [self.user]
        elif rng.random() < 0.15 and not garden:
            author, to = rng.choice(NOTIFIERS), [self.user]
        else:
            author, to = rng.choice(GARDEN_PEOPLE if garden else PEOPLE), [self.user]
        cc = []
        if author.personal and rng.random() < 0.15:
            cc = rng.sample(PEOPLE, rng.randint(1, 2))
            cc = [c for c in cc if c is not author and c not in to]
        subject, topic = self.subject_for(author if author is not self.user else to[0], garden)
        date = self.now - datetime.timedelta(seconds=_age(rng))
        return _Spec(index, date, folder, kind, author, to, cc, subject, topic)

    def thread(self, index, length):
        rng = self.rng
        folder = self.pick_thread_folder()
        garden = folder == "Projects/Garden"
        people = GARDEN_PEOPLE if garden else PEOPLE
        participants = [rng.choice(people)]
        if rng.random() < 0.6:
            other = rng.choice(PEOPLE)
            if other is not participants[0]:
                participants.append(other)
        subject, topic = self.subject_for(participants[0], garden)
        gaps = [600 + int(3 * 86400 * rng.random() ** 2) for _ in range(length - 1)]
        start = self.now - datetime.timedelta(seconds=sum(gaps) + _age(rng))
        root = _Spec(
            index,
            start,
            folder,
            "plain",
            participants[0],
            [self.user],
            participants[1:],
            subject,
            topic,
        )
        specs = [root]
        parent = root
        date = start
        for k, gap in enumerate(gaps, 1):
            previous = parent.author
            if previous is self.user:
                author = rng.choice(participants)
            elif rng.random() < 0.25 or len(participants) == 1 and rng.random() < 0.7:
                author = self.user
            else:
                others = [p for p in participants if p is not previous]
                author = rng.choice(others) if others else previous
            everyone = [self.user, *participants]
            if author is self.user:
                to = [previous]
                parent.flags.add(ANSWERED)
            else:
                to = [previous if previous is not author else self.user]
            cc = [p for p in everyone if p is not author and p not in to]
            date = date + datetime.timedelta(seconds=gap)
            mine = author is self.user and self.has_sent
            reply = _Spec(
                index + k,
                date,
                "Sent" if mine else folder,
                "plain",
                author,
                to,
                cc,
                "Re: " + subject,
                topic,
                parent=parent,
            )
            parent.children += 1
            specs.append(reply)
            parent = reply
        return specs

    def plan(self, count):
        rng = self.rng
        specs = []
        while len(specs) < count:
            remaining = count - len(specs)
            if remaining >= 2 and rng.random() < THREAD_START:
                specs.extend(self.thread(len(specs), min(rng.choice(THREAD_LENGTHS), remaining)))
            else:
                specs.append(self.single(len(specs)))
        specs.sort(key=lambda s: (s.date, s.index))
        return specs


# --- rendering --------------------------------------------------------------------------------


def _boundary(rng):
    return f"==============={rng.getrandbits(63):019d}=="


def _text_part(body, subtype="plain", flowed=False):
    """(headers, body) of a text part: 7bit when ASCII, else quoted-printable UTF-8."""
    data = body.encode("utf-8")
    params = '; format="flowed"' if flowed else ""
    if data.isascii():
        cte = "7bit"
    else:
        cte = "quoted-printable"
        data = binascii.b2a_qp(data, istext=True)
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"{params}\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n"
    )
    return head.encode("ascii"), data


def _part(head, body):
    return head + b"\r\n" + body


def _multipart(subtype, boundary, parts):
    """(headers, body) of a multipart, laid out as BytesGenerator writes it."""
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'.encode("ascii")
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    body = (
        f"--{boundary}\r\n".encode("ascii")
        + delimiter.join(parts)
        + f"\r\n--{boundary}--\r\n".encode("ascii")
    )
    return head, body


class _Renderer:
    def __init__(self, rng, user, seed):
        self.rng = rng
        self.user = user
        self.seed = seed
        self.pool = _paragraphs()
        self.mean = _mean_paragraph_size()

    def padding(self, target, flowed):
        count = max(1, int(target / self.mean))
        chosen = self.rng.choices(self.pool, k=count)
        if flowed:
            return (CRLF + CRLF).join(p.flowed for p in chosen)
        return (CRLF + CRLF).join(p.fixed for p in chosen)

    def target_size(self):
        rng = self.rng
        if rng.random() < 0.04:
            return rng.uniform(20000, 60000)
        return math.exp(rng.uniform(math.log(1600), math.log(17000)))

    def letter(self, spec, flowed, target=None):
        """The text of a personal message: greeting, intro, paragraphs, quote, signature."""
        rng = self.rng
        author, reader = spec.author, spec.to[0]
        lang = author.lang if author is not self.user else "en"
        greeting = rng.choice(GREETINGS.get(lang, GREETINGS["en"])).format(
            name=reader.first or reader.name
        )
        fill = {"topic": spec.topic, "day": rng.choice(DAYS)}
        if spec.parent is not None:
            opening = rng.choice(REPLY_LINES).format(**fill)
            target = target or rng.uniform(300, 3000)
        else:
            opening = rng.choice(INTROS).format(**fill)
            target = target or self.target_size()
        pieces = [greeting, opening, self.padding(target, flowed)]
        closing = rng.choice(CLOSINGS.get(lang, CLOSINGS["en"]))
        pieces.append(f"{closing}\r\n{author.first or author.name}")
        text = (CRLF + CRLF).join(pieces)
        if rng.random() < 0.3:
            text += f"\r\n\r\n-- \r\n{author.name}\r\n{author.address}"
        if spec.parent is not None:
            parent = spec.parent
            when = format_datetime(parent.date.astimezone(author.tz))
            quoted = parent.text.split(CRLF)[:40]
            quote = CRLF.join(
                (">" + line) if line.startswith(">") else ("> " + line).rstrip() for line in quoted
            )
            text += f"\r\n\r\nOn {when}, {parent.author.name} wrote:\r\n{quote}"
        return text + CRLF

    def plain(self, spec):
        flowed = spec.author.personal and self.rng.random() < 0.25
        text = self.letter(spec, flowed) if spec.author.personal else self.notice(spec)
        if spec.children:
            spec.text = text if not flowed else text.replace(" " + CRLF, CRLF)
        return _text_part(text, flowed=flowed)

    def notice(self, spec):
        """Text of a mail from an organisation: a receipt, a notification, a newsletter."""
        rng = self.rng
        author = spec.author
        if author.role == "shop":
            items = self.items(author)
            lines = [f"Thank you for your order {spec.topic}.", ""]
            lines += [f"  {name:<40} {price:>8.2f} EUR" for name, price in items]
            lines += ["", f"  {'Total':<40} {sum(p for _, p in items):>8.2f} EUR", ""]
            lines.append(f"Questions? Reply to this message or write to {author.address}.")
            return CRLF.join(lines) + CRLF
        link = f"https://{author.domain}/n/{rng.getrandbits(48):012x}"
        body = self.padding(rng.uniform(400, 2500), False)
        return (
            f"{spec.subject}\r\n\r\n{body}\r\n\r\nView it online: {link}\r\n\r\n-- \r\n"
            f"{author.name} \u00b7 You get this mail because of your account settings.\r\n"
        )

    def items(self, shop):
        choices = SHOP_ITEMS.get(shop.brand, SHOP_ITEMS["books"])
        return self.rng.sample(choices, self.rng.randint(1, len(choices)))

    def newsletter_html(self, spec, token):
        """A newsletter-like HTML body: inline styles, a table, a tracking pixel, links."""
        rng = self.rng
        author = spec.author
        brand = html.escape(author.name)
        color = rng.choice(("#2e7d32", "#6d4c41", "#1565c0", "#ad1457", "#00838f"))
        title = f"Your order {spec.topic}" if author.role == "shop" else spec.topic
        if author.role == "shop":
            rows = self.items(author)
            rows = [(name, "1", f"{price:.2f} EUR") for name, price in rows]
            head = ("Item", "Qty", "Price")
        else:
            rows = [
                (
                    " ".join(rng.choices(WORDS, k=4)).capitalize(),
                    rng.choice(DAYS),
                    f"{rng.randint(0, 40)}.{rng.randint(0, 99):02d} EUR",
                )
                for _ in range(rng.randint(3, 6))
            ]
            head = ("Topic", "When", "Price")
        paragraphs = rng.choices(
            self.pool, k=rng.randint(1, 2) if title != spec.topic else rng.randint(2, 10)
        )
        out = [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8">',
            f"<title>{html.escape(spec.subject)}</title></head>",
            '<body style="margin:0;padding:0;background:#f4f1ea;'
            "font-family:Georgia,'Times New Roman',serif;\">",
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
            'style="background:#f4f1ea;">',
            '<tr><td align="center" style="padding:24px 12px;">',
            '<table role="presentation" width="600" cellpadding="0" cellspacing="0" '
            'style="background:#ffffff;border:1px solid #e0dccf;">',
            f'<tr><td style="padding:20px 28px;background:{color};color:#ffffff;'
            f'font-size:22px;font-weight:bold;">{brand}</td></tr>',
            '<tr><td style="padding:24px 28px;font-size:16px;line-height:1.5;color:#333333;">',
            f'<h1 style="font-size:24px;margin:0 0 12px 0;color:#222222;">'
            f"{html.escape(title)}</h1>",
        ]
        for paragraph in paragraphs:
            out.append(f'<p style="margin:0 0 16px 0;">{paragraph.fixed}</p>')
        out.append(
            '<table role="presentation" width="100%" cellpadding="6" cellspacing="0" '
            'style="border-collapse:collapse;font-size:14px;margin:8px 0 16px 0;">'
        )
        out.append(
            '<tr style="background:#f0ede4;">'
            + "".join(
                f'<th align="left" style="border-bottom:1px solid #ccc;">{h}</th>' for h in head
            )
            + "</tr>"
        )
        for row in rows:
            out.append(
                "<tr>"
                + "".join(
                    f'<td style="border-bottom:1px solid #eee;">{html.escape(c)}</td>' for c in row
                )
                + "</tr>"
            )
        out += [
            "</table>",
            f'<p style="margin:24px 0;"><a href="https://{author.domain}/read/{token}'
            f'?utm_source=newsletter&amp;utm_medium=email" style="background:{color};'
            'color:#ffffff;padding:10px 18px;text-decoration:none;border-radius:4px;">'
            "Read more</a></p>",
            "</td></tr>",
            '<tr><td style="padding:16px 28px;font-size:12px;color:#888888;">'
            f"You receive this mail because you subscribed at {author.domain}.<br>",
            f'<a href="https://{author.domain}/unsubscribe?u={token}" style="color:#888888;">'
            "Unsubscribe</a></td></tr>",
            "</table>",
            f'<img src="https://tracker.example.net/pixel.gif?u={token}" width="1" height="1" '
            'alt="" style="display:block;border:0;width:1px;height:1px;">',
            "</td></tr></table>",
            "</body></html>",
        ]
        text_rows = "".join(f"  {' | '.join(row)}\r\n" for row in rows)
        text = (
            f"{author.name}\r\n\r\n{title}\r\n\r\n"
            + (CRLF + CRLF).join(p.fixed for p in paragraphs)
            + f"\r\n\r\n{text_rows}\r\nRead more: https://{author.domain}/read/{token}\r\n"
            f"Unsubscribe: https://{author.domain}/unsubscribe?u={token}\r\n"
        )
        return CRLF.join(out) + CRLF, text

    def attachments(self, spec):
        rng = self.rng
        if spec.author.role == "shop":
            kinds = ["pdf"]
        else:
            kinds = [rng.choice(("png", "pdf", "csv", "txt"))]
            if rng.random() < 0.3:
                kinds.append(rng.choice(("png", "pdf", "csv", "txt")))
        names = {"png": PNG_NAMES, "pdf": PDF_NAMES, "csv": CSV_NAMES, "txt": TXT_NAMES}
        return [
            _attachment_part(kind, rng.randrange(VARIANTS), rng.choice(names[kind]))
            for kind in kinds
        ]

    def body(self, spec):
        """(content headers, body bytes) for the spec's kind."""
        rng = self.rng
        kind = spec.kind
        if kind == "plain":
            return self.plain(spec)
        token = f"{rng.getrandbits(64):016x}"
        if kind in ("alternative", "html"):
            html_text, text = self.newsletter_html(spec, token)
            if kind == "html":
                return _text_part(html_text, "html")
            return _multipart(
                "alternative",
                _boundary(rng),
                [_part(*_text_part(text)), _part(*_text_part(html_text, "html"))],
            )
        if kind == "attachment":
            if spec.author.personal:
                text = self.letter(spec, rng.random() < 0.25, rng.uniform(300, 4000))
            else:
                text = self.notice(spec)
            parts = [_part(*_text_part(text)), *self.attachments(spec)]
            return _multipart("mixed", _boundary(rng), parts)
        # related: an HTML letter with an inline cid: image, and its plain text alternative
        cid = f"{token}.{spec.index:x}@{spec.author.domain}"
        text = self.letter(spec, False, rng.uniform(300, 3000))
        escaped = html.escape(text).replace(CRLF + CRLF, "</p>\r\n<p>")
        html_text = (
            '<html><body style="font-family:Arial,sans-serif;font-size:14px;">\r\n'
            f"<p>{escaped}</p>\r\n"
            f'<p><img src="cid:{cid}" alt="picture" width="160" height="120" '
            'style="border:1px solid #ddd;"></p>\r\n</body></html>\r\n'
        )
        image = (
            b"Content-ID: <"
            + cid.encode("ascii")
            + b">\r\n"
            + _inline_png_part(rng.randrange(VARIANTS))
        )
        related = _multipart(
            "related", _boundary(rng), [_part(*_text_part(html_text, "html")), image]
        )
        return _multipart(
            "alternative", _boundary(rng), [_part(*_text_part(text)), _part(*related)]
        )

    def headers(self, spec):
        rng = self.rng
        author = spec.author
        lines = []
        if author is not self.user:
            received_at = format_datetime(spec.arrival)
            lines.append(
                f"Received: from mail.{author.domain}\r\n\t(mail.{author.domain} [192.0.2."
                f"{spec.index % 250 + 1}])\r\n\tby mx.example.com with ESMTPS id "
                f"{rng.getrandbits(48):012X}\r\n\tfor <{self.user.address}>;\r\n\t{received_at}\r\n"
            )
        lines.append(_header("From", author.header))
        lines.append(_header("To", ", ".join(s.header for s in spec.to)))
        if spec.cc:
            lines.append(_header("Cc", ", ".join(s.header for s in spec.cc)))
        lines.append(_header("Subject", spec.subject))
        lines.append(f"Date: {format_datetime(spec.date.astimezone(author.tz))}\r\n")
        lines.append(f"Message-ID: {spec.msgid}\r\n")
        if spec.parent is not None:
            lines.append(f"In-Reply-To: {spec.parent.msgid}\r\n")
            lines.append(_id_list_header("References", spec.references))
        if author.role == "newsletter":
            lines.append(f"List-Unsubscribe: <https://{author.domain}/unsubscribe>\r\n")
            lines.append("Precedence: bulk\r\n")
        elif author.role == "person":
            lines.append(
                rng.choice(
                    (
                        "User-Agent: Mozilla Thunderbird\r\n",
                        "X-Mailer: Apple Mail (2.3731)\r\n",
                        "User-Agent: Mutt/2.2.9 (2022-11-12)\r\n",
                        "X-Mailer: Webmail 0.1\r\n",
                        "",
                    )
                )
            )
        lines.append("MIME-Version: 1.0\r\n")
        return "".join(lines).encode("ascii")

    def render(self, spec):
        head, body = self.body(spec)
        return self.headers(spec) + head + b"\r\n" + body


# --- the public API ---------------------------------------------------------------------------


def _default_now():
    today = datetime.datetime.now(datetime.UTC)
    return today.replace(hour=0, minute=0, second=0, microsecond=0)


def _user(recipient):
    local = recipient.partition("@")[0]
    name = re.split(r"[._+-]", local)[0].capitalize() or local
    return Sender(name, recipient, name, 0, "en", "user")


def iter_messages(count, *, seed=0, recipient="demo@example.com", now=None, folders=None):
    """Like :func:`generate_messages`, but made one at a time (oldest first); the plan is made
    upfront, the bytes lazily, so 100,000 messages need not all be in memory at once."""
    rng = random.Random(seed)
    now = (now or _default_now()).astimezone(datetime.UTC).replace(microsecond=0)
    if folders is None:
        folders = DEFAULT_FOLDERS
    elif not isinstance(folders, dict):
        folders = dict.fromkeys(folders, 1)
    user = _user(recipient)
    specs = _Planner(rng, user, now, folders).plan(count)

    # flags: everything read except the newest few and a sprinkle; some flagged
    unseen = set()
    for spec in reversed(specs):
        if len(unseen) >= NEWEST_UNSEEN:
            break
        if spec.folder != "Sent":
            unseen.add(spec.index)
    for spec in specs:
        if spec.folder == "Sent" or (spec.index not in unseen and rng.random() < 0.97):
            spec.flags.add(SEEN)
        if rng.random() < 0.05:
            spec.flags.add(FLAGGED)
        spec.msgid = _message_id(rng, spec, seed)
        if spec.parent is not None:
            spec.references = (*spec.parent.references, spec.parent.msgid)[-10:]

    renderer = _Renderer(rng, user, seed)
    order = (SEEN, ANSWERED, FLAGGED)
    last = None
    for spec in specs:
        arrival = spec.date
        if spec.author is not user:
            arrival += datetime.timedelta(seconds=rng.randint(2, 300))
        # oldest first, and nothing from the future
        spec.arrival = last = min(now, arrival if last is None else max(arrival, last))
        data = renderer.render(spec)
        flags = tuple(f for f in order if f in spec.flags)
        yield spec.folder, flags, spec.arrival, data
        if spec.parent is not None:
            parent = spec.parent
            parent.children -= 1
            if not parent.children:
                parent.text = ""  # no more replies to quote it


def generate_messages(count, *, seed=0, recipient="demo@example.com", now=None, folders=None):
    """``count`` messages as ``(folder, flags, internaldate, message bytes)``, oldest first.

    Deterministic for ``seed`` and ``now`` (default: today's midnight, UTC). ``folders`` is a
    {name: weight} dict or a list of names; the default is :data:`DEFAULT_FOLDERS`. Mail in
    "Sent" is from ``recipient``; "Receipts" gets shop receipts; "Projects/Garden" the garden
    club. ``flags`` is a tuple like ``("\\\\Seen", "\\\\Flagged")``; ``internaldate`` is aware.
    """
    return list(iter_messages(count, seed=seed, recipient=recipient, now=now, folders=folders))


# --- into an IMAP server ---------------------------------------------------------------------


def _text(data):
    return " ".join(
        d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data or ()
    )


def _create_folder(client, name, separator="/"):
    """Create ``name`` and its parents (and subscribe); "already exists" is fine."""
    parts = name.split(separator)
    for depth in range(1, len(parts) + 1):
        path = separator.join(parts[:depth])
        if path.upper() == "INBOX":
            continue
        quoted = quote_mailbox(path)
        typ, data = client.create(quoted)
        if typ != "OK":
            reason = _text(data)
            if "ALREADYEXISTS" not in reason.upper() and "EXISTS" not in reason.upper():
                raise RuntimeError(f"CREATE {path} failed: {reason}")
        client.subscribe(quoted)


def _capabilities(client):
    typ, data = client.capability()
    if typ == "OK" and data and data[-1]:
        return set(_text(data[-1:]).upper().split())
    return {c.upper() for c in client.capabilities}


_CRLF_RE = re.compile(rb"\r\n|\r|\n")


def _append_one(client, quoted, flags, internaldate, data):
    typ, reply = client.append(
        quoted,
        "(" + " ".join(flags) + ")" if flags else None,
        imaplib.Time2Internaldate(internaldate),
        data,
    )
    if typ != "OK":
        raise RuntimeError(f"APPEND to {quoted} failed: {typ} {_text(reply)}")


def _append_many(client, quoted, items):
    """One MULTIAPPEND (RFC 3502) with non-synchronising literals (LITERAL+, RFC 7888)."""
    tag = client._new_tag()
    chunks = [tag, b" APPEND ", quoted.encode("ascii")]
    for flags, internaldate, data in items:
        data = _CRLF_RE.sub(b"\r\n", data)
        if flags:
            chunks.append(b" (" + " ".join(flags).encode("ascii") + b")")
        chunks.append(b" " + imaplib.Time2Internaldate(internaldate).encode("ascii"))
        chunks.append(b" {%d+}\r\n" % len(data))
        chunks.append(data)
    chunks.append(b"\r\n")
    for key in ("OK", "NO", "BAD"):
        client.untagged_responses.pop(key, None)
    try:
        client.send(b"".join(chunks))
    except OSError as exc:
        raise client.abort(f"socket error: {exc}") from exc
    typ, reply = client._command_complete("APPEND", tag)
    if typ != "OK":
        raise RuntimeError(f"APPEND of {len(items)} to {quoted} failed: {typ} {_text(reply)}")


def seed_imap(client, messages, *, batch=200, max_batch_bytes=16 * 1024 * 1024):
    """APPEND ``messages`` ((folder, flags, internaldate, bytes), any iterable) to a logged-in
    ``imaplib.IMAP4``, creating missing folders; returns how many were appended.

    Messages of one folder keep their order. With MULTIAPPEND and LITERAL+ up to ``batch``
    messages go in one command; otherwise (or with ``batch=1``) one APPEND each.
    """
    capabilities = _capabilities(client)
    multi = batch > 1 and "MULTIAPPEND" in capabilities and "LITERAL+" in capabilities
    created = {"INBOX"}
    pending = {}  # folder -> [(flags, date, data)], [bytes]
    total = 0

    def flush(folder):
        items, size = pending.pop(folder)
        if not items:
            return
        quoted = quote_mailbox(folder)
        if multi and len(items) > 1:
            _append_many(client, quoted, items)
        else:
            for flags, internaldate, data in items:
                _append_one(client, quoted, flags, internaldate, data)

    for folder, flags, internaldate, data in messages:
        if folder not in created:
            _create_folder(client, folder)
            created.add(folder)
        items, size = pending.setdefault(folder, ([], [0]))
        items.append((tuple(flags), internaldate, data))
        size[0] += len(data)
        total += 1
        if len(items) >= max(1, batch) or size[0] >= max_batch_bytes:
            flush(folder)
    for folder in list(pending):
        flush(folder)
    return total


def seed_account(endpoint, count, *, seed=0, recipient=None, now=None, folders=None, batch=200):
    """Connect to ``endpoint`` (a :class:`mailbox.protocols.base.Endpoint`), append ``count``
    generated messages, log out; returns the number appended. ``recipient`` defaults to the
    endpoint's user name when it is an address."""
    from mailbox.protocols import imap

    if recipient is None:
        recipient = endpoint.username if "@" in endpoint.username else "demo@example.com"
    client = imap.connect(endpoint)
    try:
        messages = iter_messages(count, seed=seed, recipient=recipient, now=now, folders=folders)
        return seed_imap(client, messages, batch=batch)
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
