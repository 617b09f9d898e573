"""acknowledgeAlert: say an anomaly alert was looked into (docs/ANALYTICS.md, "Anomaly
alerts")."""

from __future__ import annotations

from app.analytics import alerts
from app.graphql.analytics.inputs import AcknowledgeAlertInput
from app.graphql.analytics.types import AlertAcknowledged, AnomalyAlertNode
from app.graphql.core.inputs import parse_id
from app.graphql.core.mutations import Call, mutation


@mutation("Mark an alert as looked into (again: the first acknowledgement stays).")
async def acknowledge_alert(call: Call, input: AcknowledgeAlertInput) -> AlertAcknowledged:
    found = await alerts.acknowledge_alert(
        call.runtime, call.actor, parse_id(str(input.id), "id"), input.note
    )
    return AlertAcknowledged(alert=AnomalyAlertNode.of(found))
