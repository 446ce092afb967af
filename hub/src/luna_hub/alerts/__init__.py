"""Alerts: rules the hub evaluates (one replica), Alertmanager-like notification state, and their delivery.

Rules (:mod:`.rules`) observe conditions; the engine (:mod:`.engine`) turns observations into alert
state (pending, firing, resolved) and notifications, persisted with the state in one transaction;
delivery (:mod:`.delivery`) sends the persisted notifications (webhooks, SMTP, Alertmanager) with
retries, so a restart loses none.
"""

from luna_hub.settings.alerts import AlertSettings, SmtpSettings

__all__ = ["AlertSettings", "SmtpSettings"]
