"""Settings of the processes bench/load.py starts: the test settings (its database and Redis come
from TEST_DATABASE_URL and TEST_REDIS_URL), with Django's cache in Redis as in production. The
test suite keeps it in each process's memory (webmail/settings_test.py); a load figure, and what
a Redis restart does to the pages, must be taken with the cache production has."""

import sys

from webmail.settings_test import *  # noqa: F403

# production's own (webmail.settings, imported by the line above after it set the env from
# TEST_*: importing it by name here first would read the env before that)
CACHES = sys.modules["webmail.settings"].CACHES
