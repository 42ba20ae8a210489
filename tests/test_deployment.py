"""The deployment files: docker-compose.yml validates with the compose CLI, .env.example documents
every setting that webmail/settings.py reads.

No Django and no database here: these tests only run `<compose> config` in a temporary folder that
holds a copy of docker-compose.yml and an env file made from .env.example.
"""

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS = ROOT / "webmail" / "settings.py"

REQUIRED_SERVICES = ("postgres", "redis", "web", "worker", "beat")
REQUIRED_SECRETS = ("SECRET_KEY", "WEBMAIL_ENCRYPTION_KEYS", "POSTGRES_PASSWORD")


def _clean_env():
    """PATH and HOME only: the developer's SECRET_KEY, DATABASE_URL ... must not leak in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
    }


def _run(args, cwd=None):
    return subprocess.run(
        args, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=60, check=False
    )


@functools.cache
def _compose_cli():
    """(command, major version): `docker compose` when it works, else `docker-compose`."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        try:
            result = _run([*command, "version", "--short"])
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = re.search(r"(\d+)\.\d+", result.stdout)
        if result.returncode == 0 and match:
            return command, int(match.group(1))
    pytest.fail(
        "No compose CLI: neither `docker compose` nor `docker-compose` works. "
        "`make test` installs Debian's docker-compose (apt-get install docker-compose)."
    )


def _compose_config(tmp_path, env_text):
    """Run `config` on a copy of the compose file with env_text as its .env file."""
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    (tmp_path / ".env").write_text(env_text)
    command, major = _compose_cli()
    args = [*command, "-f", str(tmp_path / "docker-compose.yml")]
    args += ["config", "--format", "json"] if major >= 2 else ["config"]
    return _run(args, cwd=tmp_path), major


def _parse_config(stdout, major):
    if major >= 2:
        return json.loads(stdout)
    try:
        import yaml
    except ImportError:
        return _parse_simple_yaml(stdout)
    return yaml.safe_load(stdout)


# Compose v1 prints YAML only and PyYAML may not be installed: a parser for the block-style subset
# that `docker-compose config` prints (mappings, sequences, plain and quoted scalars, scalars folded
# over several lines). Not a general YAML parser.


def _parse_simple_yaml(text):
    lines = [
        [len(line) - len(line.lstrip(" ")), line.strip()]
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    value, _ = _node(lines, 0) if lines else (None, 0)
    return value


def _is_item(text):
    return text == "-" or text.startswith("- ")


def _key_value(text):
    match = re.match(r"""^([^'"\s:][^:]*|'[^']*'|"[^"]*"):(?:\s+(.*))?$""", text)
    return (_scalar(match.group(1)), match.group(2) or "") if match else None


def _node(lines, i):
    indent = lines[i][0]
    if _is_item(lines[i][1]):
        items = []
        while i < len(lines) and lines[i][0] == indent and _is_item(lines[i][1]):
            rest = lines[i][1][1:].strip()
            if rest and _key_value(rest) and rest[0] not in "'\"":
                lines[i] = [indent + 2, rest]  # "- key: value" opens a mapping
                value, i = _node(lines, i)
            elif rest:
                value, i = _folded(rest, lines, i + 1, indent)
            else:
                value, i = _node(lines, i + 1)
            items.append(value)
        return items, i
    mapping = {}
    while i < len(lines) and lines[i][0] == indent and not _is_item(lines[i][1]):
        key, rest = _key_value(lines[i][1])
        i += 1
        if rest:
            mapping[key], i = _folded(rest, lines, i, indent)
        elif i < len(lines) and (
            lines[i][0] > indent or (lines[i][0] == indent and _is_item(lines[i][1]))
        ):
            mapping[key], i = _node(lines, i)
        else:
            mapping[key] = None
    return mapping, i


def _folded(first, lines, i, indent):
    parts = [first]
    while i < len(lines) and lines[i][0] > indent:
        parts.append(lines[i][1])
        i += 1
    return _scalar(" ".join(parts)), i


def _scalar(text):
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return json.loads(text)
    return {"{}": {}, "[]": [], "null": None, "~": None, "true": True, "false": False}.get(
        text, text
    )


def _example_env():
    return ENV_EXAMPLE.read_text()


def test_compose_config_accepts_the_env_example(tmp_path):
    result, major = _compose_config(tmp_path, _example_env())
    assert result.returncode == 0, result.stderr
    config = _parse_config(result.stdout, major)
    services = config["services"]

    for name in REQUIRED_SERVICES:
        assert name in services, f"service {name} missing"
        service = services[name]
        assert service.get("restart") == "unless-stopped", f"{name}: restart policy"
        healthcheck = service.get("healthcheck") or {}
        assert healthcheck.get("test") and not healthcheck.get("disable"), f"{name}: healthcheck"

    web = services["web"]
    assert "healthz" in " ".join(web["healthcheck"]["test"])
    assert "8000" in json.dumps(web["ports"])
    for dependency in ("postgres", "redis"):
        assert web["depends_on"][dependency]["condition"] == "service_healthy"
    for name in ("worker", "beat", "watcher"):
        assert services[name]["depends_on"]["web"]["condition"] == "service_healthy"

    # The compose file, not .env, decides where the database and Redis are.
    environment = web["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://webmail:change-me@postgres:")
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert environment["SECRET_KEY"] == "change-me"

    # The IMAP IDLE watcher runs by default, like the others.
    assert services["watcher"]["command"] == ["python", "manage.py", "watch_imap"]
    for name in [*REQUIRED_SERVICES, "watcher"]:
        assert not services[name].get("profiles"), f"{name} must start by default"

    assert {"pgdata", "redisdata", "webmail-var"} <= set(config["volumes"])


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_compose_config_refuses_an_env_file_without_secret_key(tmp_path, how):
    lines = [line for line in _example_env().splitlines() if not line.startswith("SECRET_KEY=")]
    if how == "empty":
        lines.append("SECRET_KEY=")
    result, _ = _compose_config(tmp_path, "\n".join(lines) + "\n")
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "SECRET_KEY is not set" in message, message


def _settings_variables():
    source = SETTINGS.read_text()
    names = set(re.findall(r"""\benv(?:_bool|_list)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    names |= set(re.findall(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    return names


def test_env_example_lists_every_setting():
    names = _settings_variables()
    assert {"SECRET_KEY", "DATABASE_URL", "WEBMAIL_ENCRYPTION_KEYS"} <= names  # the regex works
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", _example_env(), re.MULTILINE))
    missing = sorted(names - documented)
    assert not missing, f".env.example does not mention: {', '.join(missing)}"


def test_env_example_secrets_are_placeholders():
    values = dict(
        line.split("=", 1)
        for line in _example_env().splitlines()
        if line and not line.startswith("#") and "=" in line
    )
    for name in REQUIRED_SECRETS:
        assert values.get(name) == "change-me", name
    assert values["ALLOWED_HOSTS"] == "mail.example.org"
    assert values["CSRF_TRUSTED_ORIGINS"] == "https://mail.example.org"
    assert values["WEBMAIL_BEHIND_TLS_PROXY"] == "1"


def test_simple_yaml_parser_reads_compose_v1_output():
    text = (
        "services:\n"
        "  web:\n"
        "    command:\n"
        "    - redis-server\n"
        '    - "yes"\n'
        "    environment:\n"
        "      DEBUG: '0'\n"
        "    healthcheck:\n"
        "      test:\n"
        "      - CMD\n"
        "      - 'import os; print(''a'',\n"
        "        1)'\n"
        "    ports:\n"
        "    - published: 8000\n"
        "      target: 8000\n"
        "version: '3.9'\n"
        "volumes:\n"
        "  pgdata: {}\n"
    )
    assert _parse_simple_yaml(text) == {
        "services": {
            "web": {
                "command": ["redis-server", "yes"],
                "environment": {"DEBUG": "0"},
                "healthcheck": {"test": ["CMD", "import os; print('a', 1)"]},
                "ports": [{"published": "8000", "target": "8000"}],
            }
        },
        "version": "3.9",
        "volumes": {"pgdata": {}},
    }
