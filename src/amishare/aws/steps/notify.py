"""Notifications of a finished transfer: an SES email and/or an SNS message."""

from __future__ import annotations

from typing import Any

from amishare.aws.session import Sessions


def send(sessions: Sessions, notify: dict[str, Any], subject: str, body: str) -> list[str]:
    """Send the message where ``notify`` says; return what was sent, raise on the first failure."""
    sent = []
    if notify.get("email"):
        ses = sessions.client("ses")
        ses.send_email(
            Source=notify["ses_sender"],
            Destination={"ToAddresses": [notify["email"]]},
            Message={"Subject": {"Data": subject[:200]}, "Body": {"Text": {"Data": body}}},
        )
        sent.append(f"email to {notify['email']}")
    if notify.get("sns"):
        region = str(notify["sns"]).split(":")[3]
        sessions.client("sns", region).publish(TopicArn=notify["sns"], Subject=subject[:100], Message=body)
        sent.append(f"SNS message to {notify['sns']}")
    return sent
