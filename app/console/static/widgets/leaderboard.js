// <jifen-leaderboard>: a board's top N, live, for any web page (docs/WIDGETS.md). One snippet,
// no build step:
//   <script type="module" src="https://jifen.example.com/widgets/leaderboard.js"></script>
//   <jifen-leaderboard widget-key="jfw_…" board="points-earned" period="monthly" top="10">
//   </jifen-leaderboard>
// With member-token (a member's JWT) instead of widget-key and member-id, it also shows the
// viewer's own rank. Themable with CSS custom properties; reconnects and resumes by itself.
import { JifenWidget } from "./widget.js";

const QUERY = `subscription($board: String!, $period: String!, $top: Int!, $member: ID) {
  leaderboard(board: $board, period: $period, top: $top, memberId: $member) {
    periodId size top { rank memberId displayName points } member { rank points } } }`;
const WORDS = {
  zh: { title: "积分排行榜", points: "积分", you: "我的排名", offline: "重新连接中…", empty: "暂无排名" },
  en: { title: "Leaderboard", points: "pts", you: "Your rank", offline: "Reconnecting…", empty: "No one yet" },
};
const STYLE = `
  ol { list-style: none; margin: 0; padding: 0; }
  li { display: flex; gap: 8px; padding: 6px 0; border-bottom: 1px dashed var(--jifen-border, #e4e7eb);
    transition: background-color .6s; }
  li.up { background: var(--jifen-highlight, #fff3c4); }
  .rank { width: 2em; font-weight: 700; color: var(--jifen-accent, #c8102e); }
  .name { flex: 1; } .points { font-variant-numeric: tabular-nums; }
  .you { font-size: 12px; color: var(--jifen-muted, #7b8794); margin-top: 6px; }`;

class JifenLeaderboard extends JifenWidget {
  connectedCallback() {
    this.mount(WORDS, STYLE, `<ol part="list"></ol><div class="you" part="you"></div>`);
    this.ranks = new Map();
    const token = this.getAttribute("member-token");
    const client = this.connect(token ? { token } : { apiKey: this.getAttribute("widget-key") || "" });
    const variables = {
      board: this.getAttribute("board") || "points-earned",
      period: this.getAttribute("period") || "monthly",
      top: Number(this.getAttribute("top") || 10),
      member: token ? this.getAttribute("member-id") : null,
    };
    client.subscribe(QUERY, variables, (data) => this.render(data.leaderboard), (errors) => this.showErrors(errors));
  }

  render(board) {
    const list = this.part("ol");
    const rows = board.top.map((standing) => {
      const item = document.createElement("li");
      item.dataset.member = standing.memberId;
      item.dataset.rank = standing.rank;
      const before = this.ranks.get(standing.memberId);
      if (before !== undefined && standing.rank < before) item.classList.add("up");
      for (const [cls, text] of [["rank", standing.rank], ["name", standing.displayName],
        ["points", `${standing.points.toLocaleString()} ${this.words.points}`]]) {
        const cell = document.createElement("span");
        cell.className = cls;
        cell.textContent = text;
        item.append(cell);
      }
      return item;
    });
    this.ranks = new Map(board.top.map((s) => [s.memberId, s.rank]));
    if (rows.length) list.replaceChildren(...rows);
    else list.replaceChildren(Object.assign(document.createElement("li"), { textContent: this.words.empty }));
    const you = this.part(".you");
    you.textContent = board.member ? `${this.words.you}: ${board.member.rank} · ${board.member.points.toLocaleString()}` : "";
    if (board.member) you.dataset.rank = board.member.rank;
    this.dispatchEvent(new CustomEvent("jifen-update", { detail: board }));
  }
}

if (!customElements.get("jifen-leaderboard")) customElements.define("jifen-leaderboard", JifenLeaderboard);
