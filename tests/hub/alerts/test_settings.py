"""``[alerts]`` settings from the environment, and the combinations refused at start-up."""

from __future__ import annotations

import pytest

from luna_hub.settings import HubSettings
from luna_shared.config import load_settings
from luna_shared.errors import ConfigError


def test_receivers_from_the_environment() -> None:
    env = {
        "LUNA_ALERTS__WEBHOOK_URLS": '["http://127.0.0.1:9000/hook", "https://hooks.example.org/x"]',
        "LUNA_ALERTS__WEBHOOK_SECRET": "s",
        "LUNA_ALERTS__SMTP": '{"host": "smtp.example.org", "recipients": ["ops@example.org"]}',
        "LUNA_ALERTS__SMTP__PASSWORD": "from-a-secret-store",
        "LUNA_ALERTS__ALERTMANAGER_URL": "http://127.0.0.1:9093",
        "LUNA_ALERTS__GROUP_BY": '["alertname", "site_id"]',
        "LUNA_ALERTS__BACKUP_MAX_AGE_S": "3600",
    }
    alerts = load_settings(HubSettings, env=env).settings.alerts
    assert alerts.webhook_urls == ["http://127.0.0.1:9000/hook", "https://hooks.example.org/x"]
    assert alerts.smtp is not None
    assert alerts.smtp.password == "from-a-secret-store"  # noqa: S105 - the value set above
    assert alerts.smtp.starttls is True
    assert alerts.smtp.port == 587
    assert alerts.alertmanager_url == "http://127.0.0.1:9093"
    assert alerts.group_by == ["alertname", "site_id"]
    assert alerts.backup_max_age_s == 3600


@pytest.mark.parametrize(
    "env",
    [
        {"LUNA_ALERTS__AGENT_STALE_AFTER_S": "300", "LUNA_ALERTS__AGENT_OFFLINE_AFTER_S": "300"},
        {"LUNA_ALERTS__EVALUATE_EVERY_S": "0"},
        {"LUNA_ALERTS__PENDING_S": "-1"},
        {"LUNA_ALERTS__RETRY_BASE_S": "60", "LUNA_ALERTS__RETRY_MAX_S": "10"},
        {"LUNA_ALERTS__WEBHOOK_URL": '["http://x"]'},  # a typo is named, not ignored
    ],
)
def test_impossible_settings_fail_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(HubSettings, env=env)
