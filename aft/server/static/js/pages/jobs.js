// The Jobs page: every run of a script, newest first, filtered by state and script.
import { api, enc } from "../api.js";
import { badge, button, card, emptyState, loading, pageHead, table, when } from "../blocks.js";
import { clear, h } from "../dom.js";
import { duration, startOfDay } from "../format.js";
import { field } from "../forms.js";
import { FINAL, STATES, TRIGGERS } from "../job-states.js";
import { go } from "../router.js";
import { haltJob, jobPage } from "./job.js";

// Jobs as a table; a job not yet ended can be halted from its row (then refresh() runs).
export function jobTable(jobs, empty, refresh = () => {}) {
  return table([
    { label: "Script", primary: true, cell: (j) => h("div", null, h("a", { href: `#/jobs/${enc(j.jobId)}`, class: "cell-main" }, j.scriptName),
      h("div", { class: "cell-sub mono" }, j.jobId)) },
    { label: "Status", cell: (j) => badge(j.status) },
    { label: "Trigger", cell: (j) => j.trigger },
    { label: "Queued", cell: (j) => when(j.created) },
    { label: "Duration", cell: (j) => duration(j) },
    { label: "Actions", class: "actions-cell", cell: (j) => FINAL.has(j.status) ? null :
      button("Halt", { small: true, kind: "danger", icon: "stop", need: "run", aria: `Halt ${j.scriptName} ${j.jobId}`, onclick: async () => {
        if (await haltJob(j.jobId, j.scriptName)) await refresh();
      } }) },
  ], jobs, empty);
}

// A cell that shows a last run once it is known: job (a promise of a job, or of null)
// as its state and when it was queued, linked to its page.
export function lastRunCell(job) {
  const cell = h("span", { class: "faint" }, "…");
  job.then((j) => {
    if (!j) clear(cell, "never");
    else clear(cell, h("a", { href: `#/jobs/${enc(j.jobId)}`, "aria-label": `Last run: ${j.status}` }, badge(j.status)), " ", when(j.created));
    cell.className = "";
  }, () => clear(cell, "—"));
  return cell;
}

export async function jobsPage(main, parts, query, ctx) {
  if (parts[0]) return jobPage(main, parts[0], ctx);
  const state = query.get("status") || "";
  const script = query.get("script") || "";
  const since = query.get("since") || "";
  const trigger = query.get("trigger") || "";
  const { scripts } = await api("GET", "/v1/scripts");
  if (!ctx.alive()) return;
  const names = scripts.map((s) => s.name);
  if (script && !names.some((n) => n.toLowerCase() === script.toLowerCase())) names.push(script);
  const status = field({ name: "status", label: "State", type: "select", value: state, options: [["", "Any state"], ...STATES.map((s) => [s, s])] });
  const which = field({ name: "script", label: "Script", type: "select", value: script, options: [["", "Any script"], ...names.map((n) => [n, n])] });
  const started = field({ name: "trigger", label: "Started by", type: "select", value: trigger, options: TRIGGERS });
  const from = field({ name: "since", label: "Queued since", type: "date", value: since });
  const apply = () => {
    const q = new URLSearchParams();
    if (status.input.value) q.set("status", status.input.value);
    if (which.input.value) q.set("script", which.input.value);
    if (started.input.value) q.set("trigger", started.input.value);
    if (from.input.value) q.set("since", from.input.value);
    go(`#/jobs${q.toString() ? `?${q}` : ""}`);
  };
  status.input.onchange = apply;
  which.input.onchange = apply;
  from.input.onchange = apply;
  started.input.onchange = apply;
  const list = h("div", null, loading());
  const more = h("div", { class: "card-body", hidden: true });
  main.append(pageHead("Jobs", "Every run of a script, newest first."),
    card(null, null, [h("div", { class: "filters", role: "search" }, status, which, started, from), list, more]));
  let jobs = [];
  let cursor = null;
  const sinceTime = startOfDay(since);
  const base = () => `/v1/jobs?limit=25${state ? `&status=${enc(state)}` : ""}${script ? `&script=${enc(script)}` : ""}${sinceTime ? `&since=${sinceTime}` : ""}${trigger ? `&trigger=${enc(trigger)}` : ""}`;
  const render = () => {
    clear(list, jobTable(jobs, emptyState("No jobs", state || script || since || trigger ? "No job matches these filters." : "Run a script and it shows up here."), refresh));
    more.hidden = !cursor;
    clear(more, button("Load more", { onclick: loadMore }));
  };
  async function loadMore() {
    const page = await api("GET", `${base()}&cursor=${cursor}`);
    jobs = jobs.concat(page.jobs);
    cursor = page.nextCursor;
    render();
  }
  async function refresh() {
    const page = await api("GET", `${base()}&limit=${Math.max(25, jobs.length)}`);
    if (!ctx.alive()) return;
    jobs = page.jobs;
    cursor = page.nextCursor;
    render();
  }
  await refresh();
  ctx.every(3000, refresh);
}
