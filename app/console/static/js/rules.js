// Earning rules: the list with versions; create a rule or edit one (its whole definition, as the
// API takes it) and save it as a new version; preview a basket with the per-rule breakdown —
// with the editor's unsaved draft in place (previewPoints' draft) before saving, or the rules
// as saved when no editor is open. docs/CONSOLE.md.
import { gql, mayWrite } from "./api.js";
import { fmt, h, table, when } from "./dom.js";
import { t } from "./i18n.js";

const RULES = `{ earningRules(first: 100) { edges { node {
  id name trigger effectKind priority enabled version updatedAt updatedBy spec
  versions { version change actor createdAt } } } } }`;
const PAYLOAD = `__typename ... on EarningRulePayload { rule { id version name } }
  ... on MutationError { code message field }`;
const UPDATE = `mutation($input: UpdateEarningRuleInput!) { updateEarningRule(input: $input) { ${PAYLOAD} } }`;
const CREATE = `mutation($input: CreateEarningRuleInput!) { createEarningRule(input: $input) { ${PAYLOAD} } }`;
const PREVIEW = `query($input: PreviewPointsInput!) { previewPoints(input: $input) {
  points businessDay rules { name kind computed points cuts { cap points } } skipped { name reason } } }`;
// What "new rule" starts from: a purchase rule the operator edits.
const NEW_RULE = { name: "", trigger: "PURCHASE", effect: { kind: "FIXED", points: 10 },
  conditions: { categories: ["dairy"] }, combination: "ADDITIVE", priority: 0 };

const ENUM_KEYS = new Set(["trigger", "combination", "kind", "stacking"]);
const camel = (key) => key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

// A stored spec (snake_case keys, lower-case enum values) as the API's EarningRuleInput.
export function ruleInput(spec) {
  if (Array.isArray(spec)) return spec.map(ruleInput);
  if (spec === null || typeof spec !== "object") return spec;
  return Object.fromEntries(Object.entries(spec).map(([key, value]) => [camel(key),
    ENUM_KEYS.has(key) && typeof value === "string" ? value.toUpperCase() : ruleInput(value)]));
}

// The basket form; `draft()` gives the open editor's unsaved rule ({id, rule}) or null.
function previewPanel(draft) {
  const member = h("input", { id: "preview-member", placeholder: t("memberId"), value: "1", size: 6 });
  const channel = h("input", { id: "preview-channel", placeholder: t("channel"), value: "pos", size: 10 });
  const sku = h("input", { id: "preview-sku", placeholder: t("sku"), value: "SKU-1", size: 10 });
  const category = h("input", { id: "preview-category", placeholder: t("category"), value: "dairy", size: 10 });
  const quantity = h("input", { id: "preview-quantity", type: "number", value: "1", style: "width:5em" });
  const amount = h("input", { id: "preview-amount", placeholder: t("lineAmount"), value: "100.00", size: 8 });
  const out = h("div", { id: "preview-result" });
  const run = async (event) => {
    event.preventDefault();
    const input = { memberId: member.value, channel: channel.value,
      lines: [{ sku: sku.value, category: category.value, quantity: Number(quantity.value), amount: amount.value }] };
    let unsaved;
    try {
      unsaved = draft();
    } catch (error) {
      out.replaceChildren(h("p", { class: "error" }, String(error.message)));
      return;
    }
    if (unsaved) input.draft = unsaved;
    let p;
    try {
      p = (await gql(PREVIEW, { input })).previewPoints;
    } catch (error) {
      out.replaceChildren(h("p", { class: "error", id: "preview-error" }, `${error.code}: ${error.message}`));
      return;
    }
    out.replaceChildren(
      h("p", {}, h("strong", { id: "preview-points" }, fmt(p.points)), ` ${t("points")} · ${p.businessDay} · `,
        h("span", { class: "badge", id: "preview-kind" }, t(unsaved ? "previewDraft" : "previewSaved"))),
      table([[t("ruleName")], [t("effect")], [t("points"), "num"]], p.rules.map((r) => h("tr", {},
        h("td", {}, r.name), h("td", {}, `${r.kind} (${r.computed})`), h("td", { class: "num" }, fmt(r.points))))),
      p.skipped.length ? h("p", { class: "muted" }, p.skipped.map((s) => `${s.name}: ${s.reason}`).join(" · ")) : null);
  };
  return h("div", { class: "card" }, h("h2", {}, `${t("preview")} · ${t("basket")}`),
    h("form", { class: "row", id: "preview-form", onsubmit: run }, member, channel, sku, category, quantity, amount,
      h("button", { type: "submit" }, t("preview"))), out);
}

// The editor of one rule (or of a new one: rule null). Returns the card and how to read its draft.
function editor(rule, reload) {
  const text = h("textarea", { id: "rule-spec", rows: 14 }, JSON.stringify(rule ? ruleInput(rule.spec) : NEW_RULE, null, 2));
  const note = h("div", { id: "rule-message" });
  const draft = () => ({ ...(rule ? { id: rule.id } : {}), rule: JSON.parse(text.value) });
  const save = async (event) => {
    event.preventDefault();
    let parsed;
    try {
      parsed = JSON.parse(text.value);
    } catch (error) {
      note.replaceChildren(h("span", { class: "error" }, String(error.message)));
      return;
    }
    const answer = rule
      ? (await gql(UPDATE, { input: { id: rule.id, rule: parsed, expectedVersion: rule.version } })).updateEarningRule
      : (await gql(CREATE, { input: { rule: parsed } })).createEarningRule;
    if (answer.__typename === "MutationError") {
      note.replaceChildren(h("span", { class: "error" }, `${answer.code}: ${answer.message}`));
      return;
    }
    await reload(`${t("saved")} · ${answer.rule.name} v${answer.rule.version}`);
  };
  const card = h("div", { class: "card", id: "rule-editor" },
    h("h2", {}, rule ? `${t("edit")} · ${rule.name} (v${rule.version})` : t("newRule")),
    h("p", { class: "muted" }, t("draftHint")),
    h("form", { onsubmit: save }, h("label", {}, t("spec"), text),
      h("div", { class: "row" }, h("button", { type: "submit", id: "rule-save" }, t("save")))), note,
    rule ? h("h2", {}, t("versions")) : null,
    rule ? table([[t("version"), "num"], [t("status")], [t("actor")], [t("at")]], rule.versions.map((v) => h("tr", {},
      h("td", { class: "num" }, v.version), h("td", {}, v.change), h("td", {}, v.actor), h("td", {}, when(v.createdAt)))),
    { id: "rule-versions" }) : null);
  return { card, draft };
}

export async function rules(root) {
  const slot = h("div");
  const message = h("p", { class: "notice", id: "rules-message" });
  let draft = () => null;
  const open = (rule) => {
    const opened = editor(rule, load);
    draft = opened.draft;
    slot.replaceChildren(opened.card);
  };
  async function load(notice = "") {
    const data = await gql(RULES);
    const nodes = data.earningRules.edges.map(({ node }) => node);
    message.textContent = notice;
    const rows = nodes.map((node) => h("tr", { dataset: { rule: node.id } },
      h("td", {}, node.name), h("td", {}, node.trigger), h("td", {}, node.effectKind),
      h("td", { class: "num" }, node.priority), h("td", {}, node.enabled ? "✓" : "—"),
      h("td", { class: "num rule-version" }, node.version), h("td", {}, `${when(node.updatedAt)} · ${node.updatedBy}`),
      h("td", {}, mayWrite() ? h("button", { class: "secondary rule-edit", type: "button", onclick: () => open(node) }, t("edit")) : "")));
    list.replaceChildren(rows.length
      ? table([[t("ruleName")], [t("trigger")], [t("effect")], [t("priority"), "num"], [t("enabled")], [t("version"), "num"], [t("at")], [""]], rows, { id: "rules" })
      : h("p", { class: "muted" }, t("noRules")));
    slot.replaceChildren();
    draft = () => null;
  }
  const list = h("div");
  const create = mayWrite() ? h("button", { type: "button", id: "rule-new", onclick: () => open(null) }, t("newRule")) : null;
  root.replaceChildren(h("div", { class: "card" }, h("div", { class: "row" }, h("h2", { style: "margin:0" }, t("rules")), create),
    message, list), slot, previewPanel(() => draft()));
  await load();
}
