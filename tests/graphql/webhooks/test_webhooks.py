"""Webhooks through the API: a partner key manages its channel's endpoints, reads the delivery
log, resends and recovers; the secret is answered once; others are refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.clock import FrozenClock
from app.config import Settings
from app.members.service import channels_of_members
from app.webhooks.runner import deliver_round
from app.webhooks.tables import webhook_messages
from app.webhooks.transport import Sender
from tests.eventually import eventually
from tests.graphql.conftest import Api, api_with
from tests.webhooks.receiver import Receiver, Reply

CREATE = """mutation($url: String!, $types: [String!]!, $channel: String) {
  createWebhookEndpoint(input: {url: $url, eventTypes: $types, channel: $channel}) {
    __typename
    ... on WebhookSecretPayload { secret endpoint { id channel eventTypes enabled } }
    ... on MutationError { code field message } } }"""
ENDPOINT = """query($id: ID!) { webhookEndpoint(id: $id) {
  id url enabled failingSince
  messages(first: 5) { edges { node { id webhookId eventType status attempts memberId } } }
  attempts(first: 5) { edges { node { statusCode outcome webhookId responseExcerpt } } } } }"""
RESEND = """mutation($m: ID!) { resendWebhookMessage(input: {messageId: $m}) {
  __typename ... on WebhookMessagePayload { message { status attempts } }
  ... on MutationError { code field } } }"""
RECOVER = """mutation($e: ID!, $s: DateTime!) {
  recoverWebhookMessages(input: {endpointId: $e, since: $s}) {
    __typename ... on WebhookRecoveryPayload { messages } ... on MutationError { code } } }"""
ROTATE = """mutation($e: ID!) { rotateWebhookSecret(input: {endpointId: $e, overlapHours: 2}) {
  __typename ... on WebhookSecretPayload { secret endpoint { rotatingUntil } }
  ... on MutationError { code field } } }"""
UPDATE = """mutation($e: ID!, $enabled: Boolean) {
  updateWebhookEndpoint(input: {endpointId: $e, enabled: $enabled}) {
    __typename ... on WebhookEndpointPayload { endpoint { enabled disabledReason } }
    ... on MutationError { code field } } }"""


async def data(api: Api, query: str, variables: dict[str, Any], headers: dict[str, str]) -> Any:
    body = await api.call(query, variables, headers)
    assert "errors" not in body, body
    return body["data"]


async def test_a_partner_manages_its_endpoint_and_reads_its_delivery_log(
    settings: Settings, clock: FrozenClock
) -> None:
    loopback = ["127.0.0.1/32"]
    async with api_with(settings, clock, webhook_allowed_networks=loopback) as api:
        partner = await api.partner_headers(["webhooks:manage"], channel="pos")
        with Receiver() as receiver:
            receiver.script = lambda n, h: Reply(500, body=b"busy") if n == 1 else Reply()
            made = (
                await data(api, CREATE, {"url": receiver.url, "types": ["points.earned"]}, partner)
            )["createWebhookEndpoint"]
            assert made["__typename"] == "WebhookSecretPayload"
            assert made["secret"].startswith("whsec_")
            assert made["endpoint"]["channel"] == "pos"  # the key's channel
            endpoint_id = made["endpoint"]["id"]
            receiver.secrets = [made["secret"]]

            member = await api.register("pos", "m-1")
            await api.earn(member, 10, "k-1")
            sender = Sender(api.runtime.settings)
            try:
                await deliver_round(api.runtime, sender, channels_of_members)  # 500
                seen = (await data(api, ENDPOINT, {"id": endpoint_id}, partner))["webhookEndpoint"]
                [message] = [e["node"] for e in seen["messages"]["edges"]]
                assert (message["status"], message["attempts"]) == ("pending", 1)
                assert message["memberId"] == member
                [attempt] = [e["node"] for e in seen["attempts"]["edges"]]
                assert attempt == {
                    "statusCode": 500,
                    "outcome": "retry",
                    "webhookId": message["webhookId"],
                    "responseExcerpt": "busy",
                }
                assert seen["failingSince"] is not None

                resent = await data(api, RESEND, {"m": message["id"]}, partner)
                assert resent["resendWebhookMessage"]["message"] == {
                    "status": "pending",
                    "attempts": 0,
                }
                await deliver_round(api.runtime, sender, channels_of_members)
            finally:
                await sender.aclose()
            assert [r.webhook_id for r in receiver.delivered()] == [message["webhookId"]]

        recovered = await data(
            api, RECOVER, {"e": endpoint_id, "s": clock.now().isoformat()}, partner
        )
        assert recovered["recoverWebhookMessages"] == {
            "__typename": "WebhookRecoveryPayload",
            "messages": 0,  # nothing was given up
        }
        rotated = (await data(api, ROTATE, {"e": endpoint_id}, partner))["rotateWebhookSecret"]
        assert rotated["secret"] != made["secret"]
        assert rotated["endpoint"]["rotatingUntil"] is not None
        disabled = (await data(api, UPDATE, {"e": endpoint_id, "enabled": False}, partner))[
            "updateWebhookEndpoint"
        ]["endpoint"]
        assert disabled == {"enabled": False, "disabledReason": "disabled by partner:shop"}


async def test_others_are_refused_and_learn_nothing(api: Api) -> None:
    staff = api.staff_headers("admin")
    made = await data(
        api,
        CREATE,
        {"url": "https://example.com/hooks", "types": ["points.earned"], "channel": "pos"},
        staff,
    )
    endpoint_id = made["createWebhookEndpoint"]["endpoint"]["id"]

    other_channel = await api.partner_headers(["webhooks:manage"], channel="web")
    hidden = await api.call(ENDPOINT, {"id": endpoint_id}, other_channel)
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    missing = await api.call(ENDPOINT, {"id": "999999"}, other_channel)
    assert missing["errors"][0]["message"] == hidden["errors"][0]["message"].replace(
        endpoint_id, "999999"
    )
    no_scope = await api.partner_headers(["members:read"], channel="pos")
    refused = await api.call(ENDPOINT, {"id": endpoint_id}, no_scope)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    analyst = api.staff_headers("analyst")
    assert (await data(api, ENDPOINT, {"id": endpoint_id}, analyst))["webhookEndpoint"]["url"]
    write = await data(api, UPDATE, {"e": endpoint_id, "enabled": False}, analyst)
    assert write["updateWebhookEndpoint"]["code"] == "FORBIDDEN"
    member = await api.register("pos", "m-2")
    as_member = await api.call(
        CREATE,
        {"url": "https://example.com", "types": ["points.earned"]},
        api.member_headers(member),
    )
    assert as_member["data"]["createWebhookEndpoint"]["code"] == "FORBIDDEN"

    bad = await data(api, CREATE, {"url": "http://10.0.0.1/x", "types": ["points.earned"]}, staff)
    assert bad["createWebhookEndpoint"]["field"] == "url"
    listed = await data(api, "{ webhookEndpoints { edges { node { id } } } }", {}, staff)
    assert [e["node"]["id"] for e in listed["webhookEndpoints"]["edges"]] == [endpoint_id]
    scraped = (await api.client.get("/metrics")).text
    assert "jifen_webhook_backlog 0.0" in scraped
    assert "jifen_webhook_oldest_undelivered_seconds 0.0" in scraped


async def test_a_recovery_since_a_time_without_offset_is_refused_and_changes_nothing(
    api: Api,
) -> None:
    staff = api.staff_headers("admin")
    made = await data(
        api, CREATE, {"url": "https://example.com/hooks", "types": ["points.earned"]}, staff
    )
    endpoint_id = int(made["createWebhookEndpoint"]["endpoint"]["id"])
    now = api.runtime.clock.now()
    async with api.runtime.engine.begin() as conn:
        await conn.execute(
            webhook_messages.insert().values(
                endpoint_id=endpoint_id,
                event_id=1,
                event_type="points.earned",
                body=b"{}",
                status="failed",
                attempts=8,
                event_created_at=now,
                next_attempt_at=now,
                created_at=now,
            )
        )
    naive = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    body = await api.call(RECOVER, {"e": str(endpoint_id), "s": naive}, staff)
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "time zone offset" in error["message"]
    async with api.runtime.engine.connect() as conn:
        status = await conn.scalar(select(webhook_messages.c.status))
    assert status == "failed"  # not recovered

    aware = (now - timedelta(hours=1)).isoformat()
    recovered = await data(api, RECOVER, {"e": str(endpoint_id), "s": aware}, staff)
    assert recovered["recoverWebhookMessages"]["messages"] == 1


async def test_serve_delivers_too_when_configured(settings: Settings, clock: FrozenClock) -> None:
    """JIFEN_WEBHOOKS_IN_SERVE: the API process runs the sender in its lifespan."""
    loopback = ["127.0.0.1/32"]
    with Receiver() as receiver:
        async with api_with(
            settings, clock, webhook_allowed_networks=loopback, webhooks_in_serve=True
        ) as api:
            made = await data(
                api,
                CREATE,
                {"url": receiver.url, "types": ["points.earned"]},
                api.staff_headers("admin"),
            )
            receiver.secrets = [made["createWebhookEndpoint"]["secret"]]
            member = await api.register("pos", "m-serve")
            await api.earn(member, 10, "k-serve")
            await eventually(lambda: len(receiver.delivered()) == 1, within=30)
    [delivered] = receiver.delivered()
    assert delivered.payload["type"] == "points.earned"
    assert delivered.payload["data"]["member_id"] == int(member)
