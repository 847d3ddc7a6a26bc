// The Jobs page: every run of a script, newest first, filtered by state and script.
import { api, enc } from "../api.js";
import { badge, button, card, emptyState, loading, pageHead, table, when } from "../blocks.js";
import { clear, h } from "../dom.js";
import { duration } from "../format.js";
import { field } from "../forms.js";
import { STATES } from "../job-states.js";
import { go } from "../router.js";
import { jobPage } from "./job.js";

export function jobTable(jobs, empty) {
  return table([
    { label: "Script", primary: true, cell: (j) => h("div", null, h("a", { href: `#/jobs/${enc(j.jobId)}`, class: "cell-main" }, j.scriptName),
      h("div", { class: "cell-sub mono" }, j.jobId)) },
    { label: "Status", cell: (j) => badge(j.status) },
    { label: "Trigger", cell: (j) => j.trigger },
    { label: "Queued", cell: (j) => when(j.created) },
    { label: "Duration", cell: (j) => duration(j) },
  ], jobs, empty);
}

export async function jobsPage(main, parts, query, ctx) {
  if (parts[0]) return jobPage(main, parts[0], ctx);
  const state = query.get("status") || "";
  const script = query.get("script") || "";
  const { scripts } = await api("GET", "/v1/scripts");
  if (!ctx.alive()) return;
  const names = scripts.map((s) => s.name);
  if (script && !names.some((n) => n.toLowerCase() === script.toLowerCase())) names.push(script);
  const status = field({ name: "status", label: "State", type: "select", value: state, options: [["", "Any state"], ...STATES.map((s) => [s, s])] });
  const which = field({ name: "script", label: "Script", type: "select", value: script, options: [["", "Any script"], ...names.map((n) => [n, n])] });
  const apply = () => {
    const q = new URLSearchParams();
    if (status.input.value) q.set("status", status.input.value);
    if (which.input.value) q.set("script", which.input.value);
    go(`#/jobs${q.toString() ? `?${q}` : ""}`);
  };
  status.input.onchange = apply;
  which.input.onchange = apply;
  const list = h("div", null, loading());
  const more = h("div", { class: "card-body", hidden: true });
  main.append(pageHead("Jobs", "Every run of a script, newest first."),
    card(null, null, [h("div", { class: "filters", role: "search" }, status, which), list, more]));
  let jobs = [];
  let cursor = null;
  const base = () => `/v1/jobs?limit=25${state ? `&status=${enc(state)}` : ""}${script ? `&script=${enc(script)}` : ""}`;
  const render = () => {
    clear(list, jobTable(jobs, emptyState("No jobs", state || script ? "No job matches these filters." : "Run a script and it shows up here.")));
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
