// Overview: the analytics KPIs of the last 30 business days as cards and charts, the live board,
// and the programme's live feed of members' events (programmeEvents) (docs/CONSOLE.md).
import { gql, live } from "./api.js";
import { fmt, h, table } from "./dom.js";
import { t } from "./i18n.js";

const KPIS = `query($from: Date!, $to: Date!) {
  kpis(from: $from, to: $to, granularity: DAY) {
    start end outstanding members liability consumptionRate
    totals { issued redeemed expired issuedBySource { name points } }
    buckets { start flows { issued redeemed expired } activeMembers }
  }
  pointsOutlook { pending membersByTier { name points } }
}`;

const BOARD = `subscription { leaderboard(board: "points-earned", period: "monthly", top: 10) {
  periodId size top { rank memberId points } } }`;
const FEED = `subscription { programmeEvents(recent: 15) { id type memberId createdAt payload } }`;
const FEED_LENGTH = 50;

// One line of the feed: when, who, what, how many points.
function feedLine(event) {
  const entry = event.payload.entry;
  const amount = entry ? ` ${entry.amount > 0 ? "+" : ""}${fmt(entry.amount)}` : "";
  const reason = entry?.reason ? ` · ${entry.reason}` : "";
  return h("li", { dataset: { event: event.id, member: event.memberId, type: event.type } },
    h("span", { class: "muted" }, new Date(event.createdAt).toLocaleTimeString("zh-CN", { hour12: false })),
    " ", h("a", { href: `#/members?id=${event.memberId}` }, `#${event.memberId}`),
    ` ${t(`event.${event.type}`, event.type)}${amount}${reason}`);
}

export function businessDay(offsetDays = 0) {
  const day = new Date(Date.now() + offsetDays * 86400000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(day);
}

function card(key, value) {
  return h("div", { class: "card kpi", dataset: { kpi: key } },
    h("div", { class: "label" }, t(key)), h("div", { class: "value" }, value));
}

function chart(element, option) {
  if (!window.echarts) return;
  const instance = window.echarts.init(element, null, { renderer: "svg" });
  instance.setOption({ animation: false, tooltip: { trigger: "axis" }, ...option });
}

export async function overview(root, onCleanup) {
  const from = businessDay(-29);
  const to = businessDay(0);
  const data = await gql(KPIS, { from, to });
  const k = data.kpis;
  const rate = k.consumptionRate === null ? "—" : `${(Number(k.consumptionRate) * 100).toFixed(1)}%`;
  const flows = h("div", { class: "chart", id: "chart-flows" });
  const tiers = h("div", { class: "chart", id: "chart-tiers" });
  const sources = h("div", { class: "chart", id: "chart-sources" });
  const boardBody = h("tbody");
  const feed = h("ul", { class: "feed", id: "live-feed" });
  const dot = h("span", { class: "live" });
  root.replaceChildren(
    h("div", { class: "row muted", id: "kpi-range", dataset: { from, to } }, `${t("last30")} · ${from} — ${to}`),
    h("div", { class: "cards" },
      card("issued", fmt(k.totals.issued)),
      card("redeemed", fmt(k.totals.redeemed)),
      card("expired", fmt(k.totals.expired)),
      card("outstanding", fmt(k.outstanding)),
      card("liability", fmt(k.liability)),
      card("membersCount", fmt(k.members)),
      card("consumptionRate", rate)),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, h("h2", {}, t("flowsChart")), flows),
      h("div", { class: "card" }, h("h2", {}, t("tiersChart")), tiers)),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, h("h2", {}, dot, t("liveBoard")),
        table([[t("rank")], [t("memberId")], [t("points"), "num"]], [], { id: "live-board" })),
      h("div", { class: "card" }, h("h2", {}, t("liveFeed")), feed)),
    h("div", { class: "card" }, h("h2", {}, t("channelsChart")), sources),
  );
  root.querySelector("#live-board").replaceChildren(root.querySelector("#live-board thead"), boardBody);
  chart(flows, {
    legend: { data: [t("issued"), t("redeemed"), t("expired")] },
    xAxis: { type: "category", data: k.buckets.map((b) => b.start.slice(5)) },
    yAxis: { type: "value" },
    series: [
      { name: t("issued"), type: "bar", data: k.buckets.map((b) => b.flows.issued) },
      { name: t("redeemed"), type: "bar", data: k.buckets.map((b) => b.flows.redeemed) },
      { name: t("expired"), type: "line", data: k.buckets.map((b) => b.flows.expired) },
    ],
  });
  chart(tiers, {
    tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["40%", "70%"],
      data: data.pointsOutlook.membersByTier.map((x) => ({ name: x.name, value: x.points })) }],
  });
  chart(sources, {
    xAxis: { type: "category", data: k.totals.issuedBySource.map((x) => x.name) },
    yAxis: { type: "value" },
    series: [{ type: "bar", data: k.totals.issuedBySource.map((x) => x.points) }],
  });
  const socket = live((status) => dot.classList.toggle("on", status === "live"));
  const stopBoard = socket.subscribe(BOARD, {}, (frame) => {
    dot.classList.add("on");
    boardBody.replaceChildren(...frame.leaderboard.top.map((s) =>
      h("tr", { dataset: { member: s.memberId } }, h("td", {}, s.rank), h("td", {}, s.memberId),
        h("td", { class: "num" }, fmt(s.points)))));
  });
  const stopFeed = socket.subscribe(FEED, {}, (frame) => {
    feed.prepend(feedLine(frame.programmeEvents));
    while (feed.children.length > FEED_LENGTH) feed.lastChild.remove();
  });
  onCleanup(() => { stopBoard(); stopFeed(); });
}
