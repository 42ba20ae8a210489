"""`make demo`: a private mail server on loopback, seeded, with a demo portal user attached to it.

The mail server (Dovecot + SMTP, the same harness the tests use) lives in a temp dir and is made
anew on every start, so the demo always begins from the same few hundred messages. Its TLS
certificates come from a CA made at the same time: a copy of the CA's certificate is kept at
var/demo-ca.crt (the path is printed), for a mail client or `openssl s_client -CAfile` to trust.
"""

import logging
import shutil
import subprocess
import sys

from mailbox.protocols.base import Endpoint, Security
from mailbox.testing.seed import seed_account
from mailbox.testing.servers import MailWorld

DEMO_USER, DEMO_PASSWORD = "demo", "demo"
IMAP_MAILBOX, POP3_MAILBOX = ("demo", "demopw"), ("family", "familypw")


def show_server_log():
    """The demo's SMTP server runs in this process: its lines (a client that refused the
    certificate) go to the terminal with the launcher's, one line each."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[webmail] demo mail server: %(message)s"))
    server_log = logging.getLogger("mailbox.testing.servers")
    server_log.addHandler(handler)
    server_log.setLevel(logging.INFO)
    server_log.propagate = False


def start_demo(var, env):
    show_server_log()
    world = MailWorld().start()  # in a new temp dir, removed when it stops
    state = world.dovecot.state
    ca_file = var / "demo-ca.crt"
    try:
        imap_address = world.dovecot.add_user(*IMAP_MAILBOX)
        pop3_address = world.dovecot.add_user(*POP3_MAILBOX)
        # a POP3 client sees only the Inbox: all of the POP3 mailbox's mail goes there
        plans = ((IMAP_MAILBOX, 300, 1, None), (POP3_MAILBOX, 40, 2, ["INBOX"]))
        for (name, password), count, seed, folders in plans:
            endpoint = Endpoint(
                host="127.0.0.1",
                port=world.dovecot.ports["imap"],
                security=Security.NONE,
                username=f"{name}@{world.dovecot.domain}",
                password=password,
                allow_private=True,
            )
            seed_account(endpoint, count, seed=seed, recipient=endpoint.username, folders=folders)
        ports = world.dovecot.ports
        demo_env = dict(env, DEMO_IMAP_PASSWORD=IMAP_MAILBOX[1], DEMO_POP3_PASSWORD=POP3_MAILBOX[1],
                        DEMO_USER_PASSWORD=DEMO_PASSWORD)  # fmt: skip
        shutil.copyfile(state / "certs" / "ca.crt", ca_file)
        ca_file.chmod(0o600)  # like all of var/: the service's user's only
        world.smtp.handler.ca_file = ca_file
        subprocess.run(
            [sys.executable, "manage.py", "setup_demo", "--user", DEMO_USER,
             "--imap-address", imap_address, "--imap-port", str(ports["imaps"]),
             "--pop3-address", pop3_address, "--pop3-port", str(ports["pop3s"]),
             "--smtp-port", str(world.smtp.ports["submission"]),
             "--ca-file", str(ca_file)],
            env=demo_env, check=True,
        )  # fmt: skip
    except BaseException:
        world.stop()
        raise
    print(
        f"[webmail] demo mail server: IMAP localhost:{ports['imaps']} (TLS), "
        f"POP3 localhost:{ports['pop3s']} (TLS), SMTP localhost:{world.smtp.ports['submission']}"
        f" (STARTTLS)\n[webmail] their certificates are signed by the CA in {ca_file} (a new"
        " one on every start): a mail client or `openssl s_client -CAfile` must trust it"
        f"\n[webmail] log in as '{DEMO_USER}' with the password '{DEMO_PASSWORD}'",
        flush=True,
    )
    return world.stop
