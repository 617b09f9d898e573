// Alerts: the anomaly alerts the detector fired (programmeAlerts: all of them first, then live).
import { live } from "./api.js";
import { h, section, when } from "./dom.js";
import { t } from "./i18n.js";

const ALERTS = `subscription { programmeAlerts(after: "0") { id type subject createdAt payload } }`;

export async function alerts(root, onCleanup) {
  const list = h("ul", { class: "feed", id: "alerts" });
  const empty = h("p", { class: "muted", id: "alerts-empty" }, t("noAlerts"));
  root.replaceChildren(section(t("alerts"), empty, list));
  onCleanup(live().subscribe(ALERTS, {}, (frame) => {
    const a = frame.programmeAlerts;
    empty.remove();
    list.prepend(h("li", { dataset: { alert: a.id, type: a.type } }, h("span", { class: "muted" }, when(a.createdAt)),
      ` ${t(`alert.${a.type}`, a.type)} · ${a.subject} · `, h("code", {}, JSON.stringify(a.payload))));
  }, (errors) => root.append(h("p", { class: "error" }, errors[0]?.message || "error"))));
}
