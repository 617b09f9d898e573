// Tiers: the definitions (thresholds, multipliers, benefits) and who changed which, when.
import { gql } from "./api.js";
import { h, section, table, when } from "./dom.js";
import { t } from "./i18n.js";

const TIERS = `{ tiers { code name rank threshold multiplier benefits version }
  tierDefinitionVersions { code version change actor createdAt } }`;

export async function tiers(root) {
  const data = await gql(TIERS);
  root.replaceChildren(
    section(t("tiers"), table([[t("tier")], [t("code")], [t("threshold"), "num"], [t("multiplier"), "num"], [t("benefits")], [t("version"), "num"]],
      data.tiers.map((x) => h("tr", { dataset: { tier: x.code } }, h("td", {}, x.name), h("td", {}, x.code),
        h("td", { class: "num" }, x.threshold), h("td", { class: "num" }, `×${x.multiplier}`), h("td", {}, x.benefits.join(" · ")),
        h("td", { class: "num" }, x.version ?? "—"))), { id: "tiers" })),
    section(t("versions"), table([[t("at")], [t("code")], [t("version"), "num"], [t("status")], [t("actor")]],
      data.tierDefinitionVersions.map((v) => h("tr", {}, h("td", {}, when(v.createdAt)), h("td", {}, v.code),
        h("td", { class: "num" }, v.version), h("td", {}, v.change), h("td", {}, v.actor))), { id: "tier-versions" })));
}
