// The Dashboard page: job counts, what runs now, the day's failures and the latest jobs.
import { api, enc } from "../api.js";
import { button, card, emptyState, loading, pageHead, table, when } from "../blocks.js";
import { clear, h } from "../dom.js";
import { duration } from "../format.js";
import { haltJob } from "./job.js";
import { jobTable } from "./jobs.js";

export async function dashboardPage(main, parts, query, ctx) {
  const tiles = h("div", { class: "tiles" });
  const running = h("div", null, loading());
  const failures = h("div", null, loading());
  const recent = h("div", null, loading());
  const start = h("div");
  main.append(pageHead("Dashboard", "Jobs of this instance at a glance.",
    button("Jobs", { href: "#/jobs" }), button("Run a script", { href: "#/scripts", kind: "primary", icon: "play", need: "run" })),
  start, tiles,
  h("div", { class: "grid-2" },
    card("Running now", "Jobs in progress", running),
    card("Failures", "The last 24 hours", failures)),
  card("Recent jobs", null, recent, button("All jobs", { href: "#/jobs", small: true })));

  const count = (page) => `${page.jobs.length}${page.nextCursor ? "+" : ""}`;
  const tile = (label, value, note, cls, href) =>
    h("a", { class: `tile ${cls}`, href }, h("div", { class: "label" }, h("span", { class: "dot" }), label),
      h("div", { class: "value" }, value), h("div", { class: "note" }, note));

  async function load() {
    const day = Math.floor(Date.now() / 1000 - 86400);
    const [run, queued, failed, ok, latest, scripts] = await Promise.all([
      api("GET", "/v1/jobs?status=running&limit=100"),
      api("GET", "/v1/jobs?status=queued&limit=100"),
      api("GET", `/v1/jobs?status=failed&since=${day}&limit=500`),
      api("GET", `/v1/jobs?status=succeeded&since=${day}&limit=500`),
      api("GET", "/v1/jobs?limit=8"),
      api("GET", "/v1/scripts"),
    ]);
    if (!ctx.alive()) return;
    clear(start, scripts.scripts.length ? null : h("div", { class: "notice info spaced" },
      h("strong", null, "Getting started: "), "add a place to move files in the ", h("a", { href: "#/vfs" }, "VFS Library"),
      ", store a ", h("a", { href: "#/scripts/new" }, "script"), ", then run it from here, on a ",
      h("a", { href: "#/schedules" }, "schedule"), " or with an ", h("a", { href: "#/apikeys" }, "API key"), "."));
    clear(tiles,
      tile("Running", count(run), "now", "is-running", "#/jobs?status=running"),
      tile("Queued", count(queued), "waiting for a worker", "", "#/jobs?status=queued"),
      tile("Failed", count(failed), "last 24 hours", failed.jobs.length ? "is-failed" : "", "#/jobs?status=failed"),
      tile("Succeeded", count(ok), "last 24 hours", "is-ok", "#/jobs?status=succeeded"));
    clear(running, table([
      { label: "Script", primary: true, cell: (j) => h("a", { href: `#/jobs/${enc(j.jobId)}`, class: "cell-main" }, j.scriptName) },
      { label: "Started", cell: (j) => when(j.started) },
      { label: "Running for", cell: (j) => duration(j) },
      { label: "Trigger", cell: (j) => j.trigger },
      { label: "Actions", class: "actions-cell", cell: (j) => button("Halt", { small: true, kind: "danger", icon: "stop", need: "run", aria: `Halt ${j.scriptName} ${j.jobId}`,
        onclick: async () => { if (await haltJob(j.jobId, j.scriptName)) await load(); } }) },
    ], run.jobs.slice(0, 6), emptyState("Nothing is running", "Jobs appear here while they run.")));
    const lastFailures = failed.jobs.slice(0, 5);
    clear(failures, lastFailures.length ? h("ul", { class: "failure-list" }, lastFailures.map((j) =>
      h("li", null, h("a", { href: `#/jobs/${enc(j.jobId)}`, class: "cell-main" }, j.scriptName), " ",
        h("span", { class: "cell-sub" }, when(j.finished || j.created)),
        h("div", { class: "cell-sub clamp", title: j.error || "" }, j.error || "failed")))) :
      h("div", { class: "empty ok-empty" }, emptyState("No failures", "Every job of the last 24 hours ended well.")));
    clear(recent, jobTable(latest.jobs, emptyState("No jobs yet", "Run a script and it shows up here."), load));
  }
  await load();
  ctx.every(4000, load);
}
