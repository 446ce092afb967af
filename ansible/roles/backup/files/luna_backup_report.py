#!/usr/bin/env python3
"""Tell the hub how a backup run ended, so it alerts when backups fail or stop (``POST /ops/backups``).

    luna_backup_report.py --hub URL [--job NAME] (--result success|failure | --service-result RESULT)
                          [--message TEXT] [--ca-file PEM]

The hub's API key (an admin's) comes from ``LUNA_BACKUP_REPORT_KEY``, never from the command line.
systemd runs it after the backup service with ``--service-result "$SERVICE_RESULT"`` (``success``
or why the service failed). Exit code 0 when the hub took the report, 1 otherwise. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    """Send one report; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hub", required=True, help="the hub's base URL, e.g. https://hub.example.org")
    parser.add_argument("--job", default="luna-backup", help="which backup (default: luna-backup)")
    outcome = parser.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--result", choices=["success", "failure"])
    outcome.add_argument("--service-result", help="systemd's $SERVICE_RESULT of the backup service")
    parser.add_argument("--message", default="")
    parser.add_argument("--ca-file", help="PEM file of the CA of the hub's certificate")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    key = os.environ.get("LUNA_BACKUP_REPORT_KEY", "")
    if not key:
        print("luna-backup-report: LUNA_BACKUP_REPORT_KEY is not set", file=sys.stderr)
        return 1
    success = args.result == "success" if args.result else args.service_result == "success"
    message = args.message or ("" if args.result else f"systemd service result: {args.service_result}")
    body = json.dumps({"job": args.job, "success": success, "host": socket.gethostname(), "message": message})
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's hub
        args.hub.rstrip("/") + "/ops/backups",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    try:
        with urllib.request.urlopen(request, timeout=args.timeout, context=context) as response:  # noqa: S310
            report = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"luna-backup-report: the hub did not take the report: {exc}", file=sys.stderr)
        return 1
    print(f"luna-backup-report: reported {args.job} {'success' if success else 'failure'} as {report['report_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
