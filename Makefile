# The commands README.md names. Each sets up what it needs first.
PY := .venv/bin/python
TEST_PACKAGES := dovecot-imapd dovecot-pop3d dovecot-lmtpd redis-server chromium docker-compose \
	postgresql-client postgresql
DEMO_PACKAGES := dovecot-imapd dovecot-pop3d dovecot-lmtpd

.PHONY: run demo test lint format messages clean

run:  ## set up and run the webmail (SQLite, a private Redis if none answers)
	@.ci/venv
	$(PY) -m webmail.launcher run

demo:  ## the same, plus a seeded private mail server and a demo user
	@.ci/apt-packages $(DEMO_PACKAGES)
	@.ci/venv
	$(PY) -m webmail.launcher demo

test:  ## set up and run the whole test suite (PostgreSQL, Redis, Dovecot, Chromium)
	@.ci/apt-packages $(TEST_PACKAGES)
	@.ci/test-services
	@.ci/venv test
	$(PY) -m pytest $(PYTEST_ARGS)

lint:  ## ruff, and migrations that match the models
	@.ci/venv test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DJANGO_SETTINGS_MODULE=webmail.settings_test $(PY) manage.py makemigrations --check --dry-run

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

messages:  ## refresh the French catalogue after changing user-facing text
	DEBUG=1 $(PY) manage.py makemessages -l fr --ignore=.venv --ignore=var --ignore=tests --ignore=test-artifacts
	DEBUG=1 $(PY) manage.py compilemessages --ignore=.venv

clean:
	rm -rf .venv .pytest_cache .ruff_cache
