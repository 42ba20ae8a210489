import pytest

from mailbox.testing.servers import free_port

pytestmark = pytest.mark.django_db


def test_it_is_healthy_when_the_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_names_a_dead_redis(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"][0].startswith("redis: ConnectionError")


def test_it_names_a_dead_database(client, monkeypatch):
    from django.db import connection
    from django.db.utils import OperationalError

    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["database: OperationalError: connection refused"]


def test_it_needs_no_login(client):
    assert client.get("/healthz").status_code == 200
