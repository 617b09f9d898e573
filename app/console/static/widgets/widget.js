// What Jifen's widgets share (docs/WIDGETS.md): a shadow root with the theme's custom
// properties, the widget's words in its language, and one live socket to the server the script
// came from, whose state shows in the status line. Each widget adds its own body and style.
import { LiveClient, socketUrl } from "./live.js";

const SERVER = new URL(".", import.meta.url).origin;
const THEME = `
  :host { display: block; font-family: var(--jifen-font, system-ui, "PingFang SC", sans-serif);
    color: var(--jifen-text, #1f2933); background: var(--jifen-background, #fff);
    border: 1px solid var(--jifen-border, #e4e7eb); border-radius: var(--jifen-radius, 8px);
    padding: 12px 16px; max-width: var(--jifen-width, 360px); }
  h3 { margin: 0 0 8px; font-size: 16px; color: var(--jifen-accent, #c8102e); }
  .status { font-size: 12px; color: var(--jifen-muted, #7b8794); margin-top: 6px; }`;

export class JifenWidget extends HTMLElement {
  // words: { zh: {...}, en: {...} }, each with `title` and `offline`; body: the widget's markup.
  mount(words, style, body) {
    this.root = this.attachShadow({ mode: "open" });
    const lang = (this.getAttribute("lang") || navigator.language || "zh").startsWith("en") ? "en" : "zh";
    this.words = words[lang];
    this.root.innerHTML = `<style>${THEME}${style}</style><h3 part="title"></h3>${body}
      <div class="status" part="status"></div>`;
    this.part("h3").textContent = this.getAttribute("title") || this.words.title;
  }

  part(selector) {
    return this.root.querySelector(selector);
  }

  // The socket, signed in with `params` (a widget key or a member's token).
  connect(params) {
    this.client = new LiveClient(socketUrl(this.getAttribute("server") || SERVER), params, {
      onStatus: (status) => {
        this.part(".status").textContent = status === "live" ? "" : this.words.offline;
        this.dataset.status = status;
      },
    });
    return this.client;
  }

  showErrors(errors) {
    this.part(".status").textContent = errors[0]?.message || "error";
  }

  disconnectedCallback() {
    if (this.client) this.client.close();
  }
}
