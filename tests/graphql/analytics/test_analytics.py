"""Analytics through the API: KPIs and the outlook for staff, the point value for admins, the
weekly report, the CSV exports over HTTP guarded like the API."""

from __future__ import annotations

import csv
import io
from datetime import date

from app.analytics.alerts import Alert, fire
from app.analytics.projector import apply_pending
from app.clock import FrozenClock, business_date
from tests.graphql.conftest import Api

KPIS = """query($f: Date!, $t: Date!, $g: KpiGranularity, $c: String) {
  kpis(from: $f, to: $t, granularity: $g, channel: $c) {
    granularity outstanding members liability pointValue consumptionRate
    totals { issued issuedBySource { name points } redeemed }
    buckets { start end activeMembers outstanding } } }"""
SET_VALUE = """mutation($v: Decimal!) { setPointValue(input: {value: $v, reason: "repricing"}) {
  __typename ... on PointValueSet { pointValue { value } }
  ... on MutationError { code field } } }"""


def today(clock: FrozenClock, api: Api) -> str:
    return business_date(clock.now(), api.settings.timezone).isoformat()


async def test_analysts_read_the_kpis_of_the_ledger(api: Api, clock: FrozenClock) -> None:
    member = await api.register("pos", "a-1")
    await api.earn(member, 300, "k-1")
    await apply_pending(api.runtime)
    day = today(clock, api)
    body = await api.call(KPIS, {"f": day, "t": day}, api.staff_headers("analyst"))
    kpis = body["data"]["kpis"]
    assert (kpis["granularity"], kpis["outstanding"], kpis["members"]) == ("DAY", 300, 1)
    assert kpis["liability"] == "30.0"
    assert {"name": "other", "points": 300} in kpis["totals"]["issuedBySource"]
    assert kpis["buckets"] == [{"start": day, "end": day, "activeMembers": 1, "outstanding": 300}]
    other = await api.call(KPIS, {"f": day, "t": day, "c": "wechat"}, api.staff_headers("analyst"))
    assert other["data"]["kpis"]["outstanding"] == 0


async def test_members_may_not_read_kpis_and_a_bad_period_is_an_error(
    api: Api, clock: FrozenClock
) -> None:
    member = await api.register("pos", "a-2")
    day = today(clock, api)
    denied = await api.call(KPIS, {"f": day, "t": day}, api.member_headers(member))
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    backwards = await api.call(KPIS, {"f": day, "t": "2000-01-01"}, api.staff_headers())
    assert backwards["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_only_admins_set_the_point_value_and_bad_values_change_nothing(api: Api) -> None:
    for role in ("operator", "analyst"):
        denied = await api.call(SET_VALUE, {"v": "0.2"}, api.staff_headers(role))
        assert denied["data"]["setPointValue"]["code"] == "FORBIDDEN"
    bad = await api.admin(SET_VALUE, {"v": "-1"})
    assert bad["setPointValue"] == {
        "__typename": "MutationError",
        "code": "INVALID_INPUT",
        "field": "value",
    }
    done = await api.admin(SET_VALUE, {"v": "0.2"})
    assert done["setPointValue"]["pointValue"]["value"] == "0.2"
    values = await api.admin("{ pointValues { value } }")
    assert values["pointValues"] == [{"value": "0.2"}]


async def test_the_weekly_report_and_the_outlook(api: Api) -> None:
    body = await api.call(
        "{ weeklyReport { weekStart csv html } pointsOutlook { pending expiring { month } } }",
        headers=api.staff_headers("operator"),
    )
    report = body["data"]["weeklyReport"]
    assert date.fromisoformat(report["weekStart"]).weekday() == 0
    assert report["csv"].startswith("figure,this_week,last_week,change")
    assert "积分运营周报" in report["html"]
    assert len(body["data"]["pointsOutlook"]["expiring"]) == 12


async def test_csv_exports_need_a_staff_token(api: Api, clock: FrozenClock) -> None:
    member = await api.register("pos", "a-3")
    await api.earn(member, 40, "k-3")
    day = today(clock, api)
    url = f"/exports/transactions.csv?from={day}&to={day}"
    assert (await api.client.get(url)).status_code == 401
    assert (await api.client.get(url, headers=api.member_headers(member))).status_code == 403
    response = await api.client.get(url, headers=api.staff_headers("analyst"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["member_id"], r["amount"]) for r in rows] == [(member, "40")]
    balances = await api.client.get("/exports/balances.csv", headers=api.staff_headers())
    assert [r["total"] for r in csv.DictReader(io.StringIO(balances.text))] == ["40"]
    bad = await api.client.get("/exports/transactions.csv?from=x", headers=api.staff_headers())
    assert bad.status_code == 400


ALERTS = """query($k: String, $s: AlertStatus) {
  anomalyAlerts(kind: $k, status: $s) { id kind subject status acknowledgedBy payload } }"""
ACKNOWLEDGE = """mutation($id: ID!) { acknowledgeAlert(input: {id: $id, note: "looked"}) {
  __typename ... on AlertAcknowledged { alert { status acknowledgedBy acknowledgeNote } }
  ... on MutationError { code field } } }"""


async def test_staff_list_alerts_and_operators_acknowledge_them(
    api: Api, clock: FrozenClock
) -> None:
    async with api.runtime.engine.begin() as conn:
        await fire(
            conn,
            [Alert("alert.credential_failures", "programme", "h", {"failures": 400})],
            clock.now(),
        )
    listed = await api.call(
        ALERTS, {"k": "alert.credential_failures"}, api.staff_headers("analyst")
    )
    [alert] = listed["data"]["anomalyAlerts"]
    assert (alert["subject"], alert["status"], alert["payload"]) == (
        "programme",
        "OPEN",
        {"failures": 400},
    )
    denied = await api.call(ACKNOWLEDGE, {"id": alert["id"]}, api.staff_headers("analyst"))
    assert denied["data"]["acknowledgeAlert"]["code"] == "FORBIDDEN"
    bad = await api.admin(ACKNOWLEDGE, {"id": "x"})
    assert bad["acknowledgeAlert"] == {
        "__typename": "MutationError",
        "code": "INVALID_INPUT",
        "field": "id",
    }
    done = await api.call(ACKNOWLEDGE, {"id": alert["id"]}, api.staff_headers("operator", "olga"))
    assert done["data"]["acknowledgeAlert"]["alert"] == {
        "status": "ACKNOWLEDGED",
        "acknowledgedBy": "staff:olga",
        "acknowledgeNote": "looked",
    }
    still_open = await api.call(ALERTS, {"s": "OPEN"}, api.staff_headers("analyst"))
    assert still_open["data"]["anomalyAlerts"] == []
    member = await api.register("pos", "m-alerts")
    refused = await api.call(ALERTS, {}, api.member_headers(member))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
