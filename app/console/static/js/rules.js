// Earning rules: list with versions (the edit and preview arrive in the next slice).
import { gql } from "./api.js";
import { h, table, when } from "./dom.js";
import { t } from "./i18n.js";

const RULES = `{ earningRules(first: 100) { edges { node {
  id name trigger effectKind priority enabled version updatedAt updatedBy } } } }`;

export async function rules(root) {
  const data = await gql(RULES);
  const rows = data.earningRules.edges.map(({ node }) => h("tr", { dataset: { rule: node.id } },
    h("td", {}, node.name), h("td", {}, node.trigger), h("td", {}, node.effectKind),
    h("td", { class: "num" }, node.priority), h("td", {}, node.enabled ? "✓" : "—"),
    h("td", { class: "num" }, node.version), h("td", {}, `${when(node.updatedAt)} · ${node.updatedBy}`)));
  root.replaceChildren(h("div", { class: "card" }, h("h2", {}, t("rules")),
    rows.length ? table([[t("ruleName")], [t("trigger")], [t("effect")], [t("priority"), "num"], [t("enabled")], [t("version"), "num"], [t("at")]], rows, { id: "rules" })
      : h("p", { class: "muted" }, t("noRules"))));
}
