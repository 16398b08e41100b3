"""Settings: validated once, every problem named with what is expected, no secret ever echoed."""

import pytest

from bot.config import Cloud, Settings, load_settings, redact_url
from bot.errors import SettingsError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    # Settings read the process environment and .env in the working directory.
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def test_embedded_defaults_need_nothing():
    settings = load_settings()
    assert settings.hunt_backend == "lab"
    assert settings.redis_url is None
    assert settings.graph_base == "https://graph.microsoft.com"


def test_every_invalid_setting_is_named_with_what_is_expected(monkeypatch):
    monkeypatch.setenv("HUNT_BACKEND", "defender")
    monkeypatch.setenv("AZURE_CLOUD", "china")
    monkeypatch.setenv("AZURE_CLIENT_ID", "not-a-guid")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert "HUNT_BACKEND" in text and "'graph'" in text and "'defender'" in text
    assert "AZURE_CLOUD" in text and "gcc-high" in text
    assert "AZURE_CLIENT_ID" in text and "a GUID" in text


def test_secret_values_never_appear_in_errors(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "http://:hunter2-secret@redis.internal:6379")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "REDIS_URL" in str(caught.value)
    assert "hunter2-secret" not in str(caught.value)


def test_settings_come_from_dotenv(tmp_path):
    (tmp_path / ".env").write_text("HUNT_BACKEND=graph\nAZURE_CLOUD=gcc-high\n")
    settings = load_settings()
    assert settings.hunt_backend == "graph"
    assert settings.azure_cloud is Cloud.GCC_HIGH
    assert settings.graph_base == "https://graph.microsoft.us"
    assert settings.authority.startswith("https://login.microsoftonline.us/")


def test_host_overrides_win_over_the_cloud(monkeypatch):
    monkeypatch.setenv("GRAPH_URL", "https://127.0.0.1:8443/")
    assert load_settings().graph_base == "https://127.0.0.1:8443"


def test_graph_names_every_missing_setting(monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
    settings = load_settings()
    with pytest.raises(SettingsError) as caught:
        settings.require_graph()
    text = str(caught.value)
    assert "AZURE_CLIENT_ID is not set" in text
    assert "AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE" in text
    assert "AZURE_TENANT_ID" not in text.split("missing")[1].split("Set them")[0]


def test_certificate_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE", str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="AZURE_CLIENT_CERTIFICATE: file not found"):
        load_settings()


def test_redis_password_is_redacted_for_display():
    assert redact_url("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"
