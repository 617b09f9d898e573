// <jifen-member>: a signed-in member's balance and sign-in streak, live, for the brand's own
// pages (docs/WIDGETS.md). One snippet, no build step:
//   <script type="module" src="https://jifen.example.com/widgets/member.js"></script>
//   <jifen-member member-token="eyJ…" member-id="42"></jifen-member>
// The token is the member's own (the brand's sign-in mints it): the widget reads only that
// member. Themable like the leaderboard; reconnects and resumes by itself.
import { JifenWidget } from "./widget.js";

const BALANCE = `subscription($m: ID!) { balance(memberId: $m) { available pending } }`;
const STREAK = `subscription($m: ID!) { signInStreak(memberId: $m) {
  streak signedInToday nextReward { points } } }`;
const WORDS = {
  zh: { title: "我的积分", points: "积分", pending: "待生效", streak: "连续签到", days: "天",
    done: "今日已签到", todo: "今日未签到", next: "下次签到", offline: "重新连接中…" },
  en: { title: "My points", points: "points", pending: "pending", streak: "Sign-in streak", days: "days",
    done: "Signed in today", todo: "Not signed in today", next: "Next sign-in", offline: "Reconnecting…" },
};
const STYLE = `
  .balance { font-size: 28px; font-weight: 700; font-variant-numeric: tabular-nums; }
  .balance small, .pending, .next { font-size: 12px; font-weight: 400; color: var(--jifen-muted, #7b8794); }
  .streak { margin-top: 8px; } .streak b { color: var(--jifen-accent, #c8102e); font-size: 18px; }`;

class JifenMember extends JifenWidget {
  connectedCallback() {
    this.mount(WORDS, STYLE, `<div class="balance" part="balance"></div><div class="pending"></div>
      <div class="streak" part="streak"></div><div class="next"></div>`);
    const client = this.connect({ token: this.getAttribute("member-token") || "" });
    const variables = { m: this.getAttribute("member-id") };
    const failed = (errors) => this.showErrors(errors);
    client.subscribe(BALANCE, variables, (data) => this.showBalance(data.balance), failed);
    client.subscribe(STREAK, variables, (data) => this.showStreak(data.signInStreak), failed);
  }

  showBalance(balance) {
    const box = this.part(".balance");
    box.dataset.available = balance.available;
    box.textContent = balance.available.toLocaleString();
    box.append(Object.assign(document.createElement("small"), { textContent: ` ${this.words.points}` }));
    this.part(".pending").textContent = balance.pending ? `${this.words.pending} ${balance.pending.toLocaleString()}` : "";
    this.dispatchEvent(new CustomEvent("jifen-update", { detail: { balance } }));
  }

  showStreak(streak) {
    const box = this.part(".streak");
    box.dataset.streak = streak.streak;
    box.dataset.signedInToday = streak.signedInToday;
    box.replaceChildren(`${this.words.streak} `, Object.assign(document.createElement("b"), { textContent: streak.streak }),
      ` ${this.words.days} · ${streak.signedInToday ? this.words.done : this.words.todo}`);
    this.part(".next").textContent = streak.nextReward ? `${this.words.next} +${streak.nextReward.points} ${this.words.points}` : "";
    this.dispatchEvent(new CustomEvent("jifen-update", { detail: { streak } }));
  }
}

if (!customElements.get("jifen-member")) customElements.define("jifen-member", JifenMember);
