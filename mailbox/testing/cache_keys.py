"""Cache keys for the test suite, which runs on Redis as production does (webmail.settings_test).

Database ids repeat from test to test (a rolled-back test's ids are given again), so a value
cached for one test's message must never be read by the next. Emptying Redis between tests would
also empty the Celery queue and the channel layer kept in the same database; instead each test
starts a new *generation* (tests/conftest.py ``empty_cache``), part of every key, and the old
keys expire by themselves. Processes a test starts (daphne, a Celery worker) have a key prefix of
their own (the settings add the process id), as separate processes had separate memory before.
"""

_generation = 0


def make_key(key, key_prefix, version):
    """Django's KEY_FUNCTION: ``prefix:version:generation:key``."""
    return f"{key_prefix}:{version}:{_generation}:{key}"


def next_generation():
    """Every key from now on differs from every key before (in this process)."""
    global _generation
    _generation += 1
