import pytest

pytestmark = pytest.mark.django_db


def test_the_login_page_speaks_french(client):
    text = client.get("/login/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Connexion" in text
    assert 'lang="fr"' in text


def test_the_account_form_speaks_french(client, alice):
    client.force_login(alice)
    text = client.get("/accounts/add/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Ajouter un compte de messagerie" in text
    assert "garde votre courrier sur le serveur" in text


def test_english_is_the_default(client):
    assert "Log in" in client.get("/login/").content.decode()
