// The console's shell: sign-in, the navigation, the language switch, and a view per page
// (hash routes: #/overview, #/members, #/rules, #/tiers, …). docs/CONSOLE.md.
import { ApiError, mayWrite, restore, session, signIn, signOut } from "./api.js";
import { h } from "./dom.js";
import { t, toggleLanguage } from "./i18n.js";
import { alerts } from "./alerts.js";
import { engagement } from "./engagement.js";
import { jobs } from "./jobs.js";
import { mall } from "./mall.js";
import { members } from "./members.js";
import { overview } from "./overview.js";
import { rules } from "./rules.js";
import { tiers } from "./tiers.js";
import { webhooks } from "./webhooks.js";

// The pages, in the navigation's order.
const VIEWS = { overview, members, rules, tiers, engagement, mall, jobs, webhooks, alerts };
const app = document.getElementById("app");
let cleanups = [];

function signInView(problem = "") {
  const name = h("input", { id: "signin-name", autocomplete: "username", required: true });
  const password = h("input", { id: "signin-password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", id: "signin-error" }, problem);
  const submit = async (event) => {
    event.preventDefault();
    try {
      await signIn(name.value, password.value);
      route();
    } catch (failure) {
      error.textContent = failure instanceof ApiError && failure.code === "RATE_LIMITED" ? t("throttled") : t("wrongCredentials");
    }
  };
  app.replaceChildren(
    h("form", { class: "card signin", id: "signin", onsubmit: submit },
      h("h2", {}, `Jifen 积分 · ${t("title")}`),
      h("label", {}, t("name"), name),
      h("label", {}, t("password"), password),
      error,
      h("div", { class: "row" }, h("button", { type: "submit" }, t("signIn")),
        h("button", { type: "button", class: "secondary", id: "language", onclick: () => { toggleLanguage(); signInView(); } }, t("language")))));
}

function shell(page) {
  const link = (name) => h("a", { href: `#/${name}`, class: name === page ? "active" : null, id: `nav-${name}` }, t(name));
  const main = h("main", { id: "view" });
  app.replaceChildren(
    h("header", {},
      h("span", { class: "brand" }, `Jifen 积分 · ${t("title")}`),
      h("nav", {}, Object.keys(VIEWS).map(link)),
      h("span", { class: "who" },
        h("span", { id: "who" }, `${session.name} · ${t("role")}: ${session.role}`),
        mayWrite() ? null : h("span", { class: "badge" }, t("readOnly")),
        h("button", { class: "secondary", id: "language", onclick: () => { toggleLanguage(); route(); } }, t("language")),
        h("button", { class: "secondary", id: "signout", onclick: async () => { await signOut(); signInView(); } }, t("signOut")))),
    main);
  return main;
}

async function route() {
  for (const cleanup of cleanups) cleanup();
  cleanups = [];
  if (!session.csrf && !(await restore())) {
    signInView();
    return;
  }
  const [path, query] = (window.location.hash.replace(/^#\//, "") || "overview").split("?");
  const page = VIEWS[path] ? path : "overview";
  const main = shell(page);
  try {
    await VIEWS[page](main, (cleanup) => cleanups.push(cleanup), new URLSearchParams(query || ""));
  } catch (failure) {
    if (failure instanceof ApiError && failure.code === "UNAUTHENTICATED") {
      session.csrf = null;
      signInView();
      return;
    }
    main.append(h("p", { class: "error", id: "view-error" }, failure.code === "FORBIDDEN" ? t("forbidden") : String(failure.message)));
  }
}

window.addEventListener("hashchange", route);
route();
