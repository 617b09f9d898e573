// Jobs: every scheduled job with its schedule and last run; an admin runs one now.
import { gql, session } from "./api.js";
import { h, outcome, section, table, when } from "./dom.js";
import { t } from "./i18n.js";

const JOBS = `{ jobs { name description schedule lastRun { status startedAt finishedAt error } } }`;
const RUN = `mutation($input: RunJobInput!) { runJob(input: $input) { __typename ... on MutationError { code message } } }`;

export async function jobs(root) {
  const note = h("div", { id: "job-message" });
  async function load() {
    const data = await gql(JOBS);
    root.replaceChildren(section(t("jobs"), note, table([[t("label")], [t("schedule")], [t("lastRun")], [t("status")], [""]],
      data.jobs.map((job) => h("tr", { dataset: { job: job.name } }, h("td", {}, h("strong", {}, job.name), h("div", { class: "muted" }, job.description)),
        h("td", {}, job.schedule), h("td", {}, job.lastRun ? `${when(job.lastRun.startedAt)} → ${when(job.lastRun.finishedAt)}` : "—"),
        h("td", { class: "job-status" }, job.lastRun ? job.lastRun.status : "—", job.lastRun?.error ? h("div", { class: "error" }, job.lastRun.error) : null),
        // Running a job is an admin's (docs/PERMISSIONS.md).
        h("td", {}, session.role === "admin" ? h("button", { class: "secondary job-run", type: "button", onclick: async () => {
          outcome(note, (await gql(RUN, { input: { name: job.name } })).runJob, `${t("done")} · ${job.name}`);
          await load();
        } }, t("runNow")) : ""))), { id: "jobs" })));
  }
  await load();
}
