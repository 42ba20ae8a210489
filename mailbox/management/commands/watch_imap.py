import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from mailbox.watcher import InboxSync, Watchers, serve


class Command(BaseCommand):
    help = (
        "Hold IMAP IDLE on every IMAP account's Inbox and sync it when new mail arrives; told "
        "of accounts added, changed or deleted at once (Redis pub/sub)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--shard", default="0/1", help="i/N: watch accounts whose id %% N == i")
        parser.add_argument(
            "--refresh",
            type=float,
            default=300.0,
            help="seconds between looks at every account (the net under a lost message)",
        )

    def handle(self, *args, **options):
        try:
            shard, shards = (int(part) for part in options["shard"].split("/"))
            assert 0 <= shard < shards
        except (ValueError, AssertionError):
            raise CommandError("--shard is i/N with 0 <= i < N, e.g. 0/2") from None
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        inbox_sync = InboxSync()
        watchers = Watchers(inbox_sync, shard, shards)
        self.stdout.write(f"watching the IMAP accounts of shard {shard}/{shards}")
        try:
            serve(watchers, stop, refresh_seconds=options["refresh"])
        finally:
            watchers.stop()
            inbox_sync.close()
