"""The backup role's reporter (``luna_backup_report.py``, run by systemd after each backup) against a real hub."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from support.alerting import alert_settings
from support.hub import admin_key, migrated_pool, served_hub
from support.receivers import WebhookReceiver

REPORTER = Path(__file__).resolve().parents[3] / "ansible/roles/backup/files/luna_backup_report.py"


async def _report(hub: str, key: str | None, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "LUNA_BACKUP_REPORT_KEY"}
    if key is not None:
        env["LUNA_BACKUP_REPORT_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPORTER),
        "--hub",
        hub,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_a_failed_backup_unit_reported_by_systemd_raises_an_alert(
    alerts_dsn: str, receiver: WebhookReceiver
) -> None:
    async with migrated_pool(alerts_dsn) as pool:
        key = await admin_key(pool)
        analyst = await admin_key(pool, "analyst")
        settings = alert_settings(alerts_dsn, webhook_urls=[receiver.url])
        async with served_hub(settings) as hub:
            code, output = await _report(hub, key, "--service-result", "exit-code")
            assert code == 0, output
            await receiver.wait_for(1)
            alert = receiver.bodies()[0]["alerts"][0]
            assert alert["labels"]["alertname"] == "backup_failed"
            assert alert["labels"]["job"] == "luna-backup"
            assert alert["annotations"]["message"] == "systemd service result: exit-code"

            assert (await _report(hub, key, "--result", "success"))[0] == 0
            await receiver.wait_for(2)
            assert receiver.bodies()[1]["status"] == "resolved"

            code, output = await _report(hub, analyst, "--result", "success")  # not an admin's key
            assert code == 1
            assert "403" in output
            code, output = await _report(hub, None, "--result", "success")
            assert code == 1
            assert "LUNA_BACKUP_REPORT_KEY is not set" in output
        rows = await pool.fetch("SELECT job, success, host, reported_by FROM backup_reports ORDER BY report_id")
        assert [(r["job"], r["success"]) for r in rows] == [("luna-backup", False), ("luna-backup", True)]
        assert all(r["host"] and r["reported_by"].startswith("test-admin-") for r in rows)
