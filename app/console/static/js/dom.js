// Building the page from data without innerHTML: text is always text (no markup injection from
// a member's name or a rule's reason).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function fmt(value) {
  if (value === null || value === undefined) return "—";
  const number = Number(value);
  return Number.isFinite(number) ? number.toLocaleString("zh-CN") : String(value);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "—";
}

export function table(headers, rows, attrs = {}) {
  return h(
    "table",
    attrs,
    h("thead", {}, h("tr", {}, headers.map(([label, cls]) => h("th", { class: cls }, label)))),
    h("tbody", {}, rows),
  );
}

// A titled card around its content (a page's section).
export function section(title, ...content) {
  return h("div", { class: "card section" }, h("h2", {}, title), ...content);
}

// A mutation's answer shown where it was asked: the typed error, or "done".
export function outcome(note, answer, done) {
  note.replaceChildren(answer.__typename === "MutationError"
    ? h("span", { class: "error" }, `${answer.code}: ${answer.message}`)
    : h("span", { class: "notice" }, done));
}
