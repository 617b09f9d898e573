// Webhooks: the endpoints, and each one's messages with their delivery state; an operator sends
// a message again (resendWebhookMessage: the same webhook-id, a fresh schedule).
import { gql, mayWrite } from "./api.js";
import { h, outcome, section, table, when } from "./dom.js";
import { t } from "./i18n.js";

// The endpoints first, then each one's latest messages (one query each: the API's cost limit
// refuses the two nested lists at once).
const ENDPOINTS = `{ webhookEndpoints(first: 20) { edges { node { id } } } }`;
const ENDPOINT = `query($id: ID!) { webhookEndpoint(id: $id) { id url description eventTypes channel enabled
  disabledReason failingSince messages(first: 25) { edges { node { id eventType memberId status attempts
  deliveredAt nextAttemptAt createdAt } } } } }`;
const RESEND = `mutation($input: ResendWebhookMessageInput!) { resendWebhookMessage(input: $input) {
  __typename ... on MutationError { code message } } }`;

export async function webhooks(root) {
  const note = h("div", { id: "webhook-message" });
  async function load() {
    const ids = (await gql(ENDPOINTS)).webhookEndpoints.edges.map(({ node }) => node.id);
    const endpoints = await Promise.all(ids.map(async (id) => (await gql(ENDPOINT, { id })).webhookEndpoint));
    root.replaceChildren(section(t("webhooks"), note, endpoints.length ? null : h("p", { class: "muted" }, "—")),
      ...endpoints.map((e) => section(`${e.url}`,
        h("p", { class: "muted" }, `#${e.id} · ${e.eventTypes.join(", ")} · ${e.channel || t("allChannels")} · `,
          h("span", { class: "badge" }, e.enabled ? t("active") : `${t("inactive")} ${e.disabledReason || ""}`),
          e.failingSince ? h("span", { class: "error" }, ` ${t("failingSince")} ${when(e.failingSince)}`) : null),
        table([[t("at")], [t("event")], [t("memberId")], [t("status")], [t("attempts"), "num"], [t("deliveredAt")], [""]],
          e.messages.edges.map(({ node: m }) => h("tr", { dataset: { message: m.id } }, h("td", {}, when(m.createdAt)),
            h("td", {}, m.eventType), h("td", {}, m.memberId || "—"), h("td", { class: "delivery-status" }, m.status),
            h("td", { class: "num delivery-attempts" }, m.attempts), h("td", {}, when(m.deliveredAt)),
            h("td", {}, mayWrite() ? h("button", { class: "secondary resend", type: "button", onclick: async () => {
              outcome(note, (await gql(RESEND, { input: { messageId: m.id } })).resendWebhookMessage, `${t("resent")} · ${m.id}`);
              await load();
            } }, t("resend")) : ""))), { class: "deliveries", dataset: { endpoint: e.id } }))));
  }
  await load();
}
