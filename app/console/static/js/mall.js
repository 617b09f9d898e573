// The points mall: items with their stock, flash sales, lotteries with their odds, and the orders
// with their states: every member's newest first, or one member's.
import { gql } from "./api.js";
import { fmt, h, section, table, when } from "./dom.js";
import { t } from "./i18n.js";

const MALL = `{ mallItems(first: 100) { edges { node { id code name kind pointsPrice currentPointsPrice
  stockLeft stockTotal flash saleStartsAt saleEndsAt active } } }
  lotteryPools { code name kind costPoints active totalWeight prizes { code name kind weight stockLeft probability } } }`;
const ORDER = "id memberId itemId quantity points cashAmount status closeReason createdAt expiresAt";
const MEMBER_ORDERS = `query($m: ID!, $s: RedemptionStatus) { orders: redemptions(memberId: $m, first: 50, status: $s) {
  edges { node { ${ORDER} } } } }`;
const ALL_ORDERS = `query($s: RedemptionStatus) { orders: mallOrders(first: 50, status: $s) {
  edges { node { ${ORDER} } } } }`;
const STATES = ["", "PLACED", "CONFIRMED", "FULFILLED", "CANCELLED", "EXPIRED", "RETURNED"];

const stock = (item) => item.stockTotal === null ? "∞" : `${fmt(item.stockLeft)} / ${fmt(item.stockTotal)}`;

function itemsTable(items, id) {
  return table([[t("label")], [t("kind")], [t("price"), "num"], [t("stock"), "num"], [t("saleWindow")], [t("enabled")]],
    items.map((x) => h("tr", { dataset: { item: x.code } }, h("td", {}, x.name), h("td", {}, x.kind),
      h("td", { class: "num" }, x.currentPointsPrice === x.pointsPrice ? fmt(x.pointsPrice) : `${fmt(x.currentPointsPrice)} (${fmt(x.pointsPrice)})`),
      h("td", { class: "num stock" }, stock(x)), h("td", {}, x.saleStartsAt ? `${when(x.saleStartsAt)} — ${when(x.saleEndsAt)}` : "—"),
      h("td", {}, x.active ? "✓" : "—"))), { id });
}

function pool(p) {
  return h("div", { dataset: { pool: p.code } },
    h("p", {}, h("strong", {}, p.name), ` · ${p.code} · ${p.kind} · ${fmt(p.costPoints)} ${t("points")} `,
      h("span", { class: "badge" }, p.active ? t("active") : t("inactive"))),
    table([[t("prize")], [t("kind")], [t("weight"), "num"], [t("odds"), "num"], [t("stock"), "num"]], p.prizes.map((x) =>
      h("tr", { dataset: { prize: x.code } }, h("td", {}, x.name), h("td", {}, x.kind), h("td", { class: "num" }, x.weight),
        h("td", { class: "num odds" }, x.probability), h("td", { class: "num" }, x.stockLeft ?? "∞")))));
}

export async function mall(root, onCleanup, params) {
  const data = await gql(MALL);
  const items = data.mallItems.edges.map(({ node }) => node);
  const member = h("input", { id: "orders-member", placeholder: t("memberId"), value: params.get("member") || "" });
  const state = h("select", { id: "orders-status", onchange: () => showOrders() },
    STATES.map((s) => h("option", { value: s }, s || t("allStates"))));
  const orders = h("div", { id: "orders" });
  const showOrders = async (event) => {
    if (event) event.preventDefault();
    const m = member.value.trim();
    const s = state.value || null;
    const found = (await (m ? gql(MEMBER_ORDERS, { m, s }) : gql(ALL_ORDERS, { s }))).orders.edges.map(({ node }) => node);
    orders.replaceChildren(table([[t("at")], [t("order")], [t("member")], [t("item")], [t("quantity"), "num"], [t("points"), "num"], [t("status")]],
      found.map((o) => h("tr", { dataset: { order: o.id } }, h("td", {}, when(o.createdAt)), h("td", {}, o.id),
        h("td", { class: "order-member" }, o.memberId), h("td", {}, o.itemId),
        h("td", { class: "num" }, o.quantity), h("td", { class: "num" }, fmt(o.points)),
        h("td", {}, h("span", { class: "badge" }, o.status), o.closeReason ? ` ${o.closeReason}` : "")))));
  };
  root.replaceChildren(
    section(t("items"), itemsTable(items.filter((x) => !x.flash), "mall-items")),
    section(t("flashSales"), itemsTable(items.filter((x) => x.flash), "flash-sales")),
    section(t("lotteries"), h("div", { id: "lottery-pools" }, data.lotteryPools.map(pool))),
    section(t("orders"), h("form", { class: "row", id: "orders-form", onsubmit: showOrders }, member, state,
      h("button", { type: "submit" }, t("search"))), orders));
  await showOrders();
}
