"""Settings of the processes bench/load.py starts: the test settings (its database and Redis come
from TEST_DATABASE_URL and TEST_REDIS_URL), with Django's cache in Redis as in production. The
test settings use Redis too, but with keys of their own per process and test (mailbox.testing.
cache_keys); a load figure, and what a Redis restart does to the pages, is taken with the cache
exactly as production has it."""

import sys

from webmail.settings_test import *  # noqa: F403

# production's own (webmail.settings, imported by the line above after it set the env from
# TEST_*: importing it by name here first would read the env before that)
CACHES = sys.modules["webmail.settings"].CACHES
