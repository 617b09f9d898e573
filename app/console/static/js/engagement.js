// Engagement: the sign-in schedules (what each day of the cycle pays), the tasks and challenges,
// and each challenge's board.
import { gql } from "./api.js";
import { fmt, h, section, table } from "./dom.js";
import { t } from "./i18n.js";

const ENGAGEMENT = `{ signInSchedules { code name basePoints cycleDays active days { day points bonus gifts lotteryDraws } }
  tasks { code name kind trigger metric target period enabled leaderboard reward { points badge lotteryDraws } } }`;
const BOARD = `query($task: String!) { challengeBoard(task: $task, top: 5) { top { rank id progress } } }`;

function schedule(s) {
  return h("div", { class: "schedule", dataset: { schedule: s.code } },
    h("p", {}, h("strong", {}, s.name), ` · ${s.code} · ${t("cycleDays")} ${s.cycleDays} · ${t("basePoints")} ${s.basePoints} `,
      h("span", { class: "badge" }, s.active ? t("active") : t("inactive"))),
    table([[t("day"), "num"], [t("points"), "num"], [t("bonus"), "num"], [t("gifts")], [t("lotteryDraws"), "num"]],
      s.days.map((d) => h("tr", {}, h("td", { class: "num" }, d.day), h("td", { class: "num" }, d.points ?? s.basePoints),
        h("td", { class: "num" }, d.bonus), h("td", {}, d.gifts.join(" · ")), h("td", { class: "num" }, d.lotteryDraws)))));
}

export async function engagement(root) {
  const data = await gql(ENGAGEMENT);
  const challenges = data.tasks.filter((x) => x.leaderboard);
  const boards = await Promise.all(challenges.map((x) => gql(BOARD, { task: x.code })));
  root.replaceChildren(
    section(t("signInSchedules"), h("div", { id: "schedules" }, data.signInSchedules.map(schedule))),
    section(t("tasks"), table([[t("label")], [t("kind")], [t("trigger")], [t("target"), "num"], [t("period")], [t("reward")], [t("enabled")]],
      data.tasks.map((x) => h("tr", { dataset: { task: x.code } }, h("td", {}, x.name), h("td", {}, x.kind), h("td", {}, `${x.trigger} · ${x.metric}`),
        h("td", { class: "num" }, x.target), h("td", {}, x.period),
        h("td", {}, [`${fmt(x.reward.points)} ${t("points")}`, x.reward.badge, x.reward.lotteryDraws ? `${x.reward.lotteryDraws} ${t("lotteryDraws")}` : null].filter(Boolean).join(" · ")),
        h("td", {}, x.enabled ? "✓" : "—"))), { id: "tasks" })),
    section(t("challenges"), h("div", { id: "challenges" }, challenges.map((x, i) => h("div", { dataset: { challenge: x.code } },
      h("p", {}, h("strong", {}, x.name)),
      table([[t("rank"), "num"], [t("memberId")], [t("progress"), "num"]], boards[i].challengeBoard.top.map((s) =>
        h("tr", {}, h("td", { class: "num" }, s.rank), h("td", {}, s.id), h("td", { class: "num" }, s.progress)))))))));
}
