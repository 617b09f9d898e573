// Members: search by id, phone or channel reference; profile, live balance, lots, history with each
// entry's rule breakdown, holds, tier history; adjust points, freeze and unfreeze.
import { gql, live, mayWrite } from "./api.js";
import { fmt, h, outcome, table, when } from "./dom.js";
import { t } from "./i18n.js";

const MEMBER_FIELDS = `id status statusReason name phone tags createdAt
  channelRefs { channel externalRef }
  balance { available pending held total }
  tier { tier { code name } }
  lots(first: 20) { edges { node { id amount remaining pending expiresAt } } }
  history(first: 20) { edges { node { id kind amount balanceAfter reason actor createdAt
    breakdown { points rules { name kind points } } } } }
  holds { id amount reason expiresAt }
  tierHistory { fromTier toTier reason createdAt }`;

const BY_ID = `query($id: ID!) { member(id: $id) { ${MEMBER_FIELDS} } }`;
const BY_REF = `query($c: String!, $r: String!) { memberByRef(channel: $c, externalRef: $r) { ${MEMBER_FIELDS} } }`;
const BY_PHONE = `query($p: String!) { membersByPhone(phone: $p) { id name status channelRefs { channel externalRef } } }`;
const HISTORY = `query($id: ID!) { member(id: $id) { history(first: 20) { edges { node {
  id kind amount balanceAfter reason actor createdAt breakdown { points rules { name kind points } } } } } } }`;
const BALANCE = `subscription($m: ID!) { balance(memberId: $m) { available pending held total } }`;
const ADJUST = `mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
  __typename ... on PointsPosted { balance { available } } ... on MutationError { code message } } }`;
const STATUS = `mutation($input: SetMemberStatusInput!) { setMemberStatus(input: $input) {
  __typename ... on MutationError { code message } } }`;

function balanceView(balance) {
  return [
    h("div", { class: "balance", id: "balance-available" }, fmt(balance.available)),
    h("div", { class: "muted" }, `${t("pending")} ${fmt(balance.pending)} · ${t("held")} ${fmt(balance.held)} · ${t("total")} ${fmt(balance.total)}`),
  ];
}

function breakdown(entry) {
  if (!entry.breakdown) return "";
  return entry.breakdown.rules.map((r) => `${r.name}: ${r.points}`).join("; ");
}

function historyTable(history) {
  return table([[t("at")], [t("kind")], [t("amount"), "num"], [t("balanceAfter"), "num"], [t("reason")], [t("breakdown")], [t("actor")]],
    history.edges.map(({ node }) => h("tr", {},
      h("td", {}, when(node.createdAt)), h("td", {}, node.kind), h("td", { class: "num" }, fmt(node.amount)),
      h("td", { class: "num" }, fmt(node.balanceAfter)), h("td", {}, node.reason), h("td", {}, breakdown(node)),
      h("td", {}, node.actor))), { id: "history" });
}

export async function members(root, onCleanup, params) {
  const idInput = h("input", { id: "search-id", placeholder: t("memberId"), value: params.get("id") || "" });
  const phone = h("input", { id: "search-phone", placeholder: t("phone"), type: "tel" });
  const channel = h("input", { id: "search-channel", placeholder: t("channel") });
  const ref = h("input", { id: "search-ref", placeholder: t("externalRef") });
  const result = h("div", { id: "member" });
  const message = h("div", { id: "member-message" });
  let stop = () => {};
  onCleanup(() => stop());

  async function show(query, variables) {
    stop();
    message.replaceChildren();
    const data = await gql(query, variables);
    const member = data.member || data.memberByRef;
    if (!member) {
      result.replaceChildren();
      message.replaceChildren(h("p", { class: "error" }, t("notFound")));
      return;
    }
    render(member);
  }

  function render(member) {
    const balanceBox = h("div", {}, balanceView(member.balance));
    const historyBox = h("div", {}, historyTable(member.history));
    const actions = mayWrite() ? writeActions(member) : h("p", { class: "muted" }, t("readOnly"));
    result.replaceChildren(
      h("div", { class: "grid2" },
        h("div", { class: "card" },
          h("h2", {}, `${t("profile")} #${member.id}`),
          h("p", {}, h("strong", { id: "member-name" }, member.name || "—"), " ",
            h("span", { class: `badge ${member.status}`, id: "member-status" }, member.status)),
          h("p", { class: "muted" }, `${t("phone")}: ${member.phone || "—"} · ${t("tier")}: ${member.tier?.tier.name || "—"}`),
          h("p", { class: "muted" }, member.channelRefs.map((c) => `${c.channel}:${c.externalRef}`).join(" · ")),
          member.statusReason ? h("p", { class: "muted" }, member.statusReason) : null),
        h("div", { class: "card" }, h("h2", {}, t("balance")), balanceBox, actions)),
      h("div", { class: "card" }, h("h2", {}, t("lots")),
        table([[t("amount"), "num"], [t("remaining"), "num"], [t("pending")], [t("expiresAt")]],
          member.lots.edges.map(({ node }) => h("tr", {},
            h("td", { class: "num" }, fmt(node.amount)), h("td", { class: "num" }, fmt(node.remaining)),
            h("td", {}, node.pending ? "✓" : ""), h("td", {}, when(node.expiresAt)))))),
      h("div", { class: "card" }, h("h2", {}, t("history")), historyBox),
      h("div", { class: "grid2" },
        h("div", { class: "card" }, h("h2", {}, t("holds")),
          table([[t("amount"), "num"], [t("reason")], [t("expiresAt")]], member.holds.map((x) => h("tr", {},
            h("td", { class: "num" }, fmt(x.amount)), h("td", {}, x.reason), h("td", {}, when(x.expiresAt)))))),
        h("div", { class: "card" }, h("h2", {}, t("tierHistory")),
          table([[t("at")], [t("tier")], [t("reason")]], member.tierHistory.map((x) => h("tr", {},
            h("td", {}, when(x.createdAt)), h("td", {}, `${x.fromTier || "—"} → ${x.toTier || "—"}`), h("td", {}, x.reason)))))),
    );
    stop = live().subscribe(BALANCE, { m: member.id }, (frame) => {
      balanceBox.replaceChildren(...balanceView(frame.balance));
      // The entry that moved it, with its breakdown, at the top of the history.
      gql(HISTORY, { id: member.id }).then((data) => historyBox.replaceChildren(historyTable(data.member.history)));
    });
  }

  function writeActions(member) {
    const amount = h("input", { id: "adjust-amount", type: "number", placeholder: t("adjustAmount") });
    const reason = h("input", { id: "adjust-reason", placeholder: t("reason") });
    const note = h("div", { id: "action-message" });
    const report = (answer) => outcome(note, answer, t("done"));
    const adjust = async (event) => {
      event.preventDefault();
      const input = { memberId: member.id, amount: Number(amount.value), reason: reason.value,
        idempotencyKey: `console-${crypto.randomUUID()}` };
      report((await gql(ADJUST, { input })).adjustPoints);
    };
    const frozen = member.status === "FROZEN";
    const setStatus = async () => {
      const input = { memberId: member.id, status: frozen ? "ACTIVE" : "FROZEN", reason: reason.value || t(frozen ? "unfreeze" : "freeze") };
      const answer = (await gql(STATUS, { input })).setMemberStatus;
      report(answer);
      if (answer.__typename !== "MutationError") await show(BY_ID, { id: member.id });
    };
    return h("div", {},
      h("h2", { style: "margin-top:16px" }, t("adjust")),
      h("form", { class: "row", id: "adjust-form", onsubmit: adjust }, amount, reason, h("button", { type: "submit" }, t("submit"))),
      h("div", { class: "row" }, h("button", { class: "secondary", id: "status-toggle", type: "button", onclick: setStatus }, t(frozen ? "unfreeze" : "freeze"))),
      note);
  }

  // A phone may be shared (a family): one match opens, several are listed to choose from.
  async function byPhone(number) {
    stop();
    message.replaceChildren();
    const found = (await gql(BY_PHONE, { p: number })).membersByPhone;
    if (found.length === 1) return show(BY_ID, { id: found[0].id });
    result.replaceChildren();
    if (!found.length) return message.replaceChildren(h("p", { class: "error" }, t("notFound")));
    message.replaceChildren(h("div", { class: "card" }, table([[t("memberId")], [t("label")], [t("status")], [t("channel")]],
      found.map((m) => h("tr", {}, h("td", {}, h("a", { href: `#/members?id=${m.id}`, class: "phone-match" }, `#${m.id}`)),
        h("td", {}, m.name || "—"), h("td", {}, m.status),
        h("td", {}, m.channelRefs.map((c) => `${c.channel}:${c.externalRef}`).join(" · ")))), { id: "phone-matches" })));
  }

  const search = async (event) => {
    event.preventDefault();
    if (idInput.value.trim()) await show(BY_ID, { id: idInput.value.trim() });
    else if (phone.value.trim()) await byPhone(phone.value.trim());
    else await show(BY_REF, { c: channel.value.trim(), r: ref.value.trim() });
  };
  root.replaceChildren(
    h("form", { class: "row card", id: "member-search", onsubmit: search },
      idInput, h("span", { class: "muted" }, "/"), phone, h("span", { class: "muted" }, "/"), channel, ref,
      h("button", { type: "submit" }, t("search"))),
    message, result);
  if (idInput.value) await show(BY_ID, { id: idInput.value });
}
