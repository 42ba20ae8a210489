"""A missing corpus is a skip on a developer's machine and a failure in CI."""

import pytest

from tests import corpus


def test_a_missing_corpus_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="corpus absent"):
        corpus.require(tmp_path / "nowhere")
    with pytest.raises(pytest.fail.Exception, match="corpus absent"):
        corpus.absent_param(tmp_path / "nowhere")
    with pytest.raises(pytest.fail.Exception, match="corpus absent"):
        corpus.require(tmp_path)  # there but empty


def test_a_missing_corpus_is_a_skip_elsewhere(monkeypatch, tmp_path):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="corpus absent"):
        corpus.require(tmp_path / "nowhere")
    param = corpus.absent_param(tmp_path / "nowhere")
    assert [mark.name for mark in param.marks] == ["skip"]


def test_a_present_corpus_is_given_back():
    folder = corpus.CORPUS / "realworld"
    assert corpus.require(folder) == folder  # (skipped here too when it is absent)
