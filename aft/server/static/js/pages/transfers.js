// The Transfers page: every file jobs moved, with the filters of `aft transfers list`, paged
// by cursor, and its CSV download; also the table of records and the byte counts the job
// page's Files tab and progress bar use.
import { api, enc } from "../api.js";
import { badge, button, card, emptyState, loading, pageHead, table } from "../blocks.js";
import { toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { browserZone, fmtTime } from "../format.js";
import { field } from "../forms.js";
import { go } from "../router.js";

// A byte count for a person: "512 B", "1.5 KiB", "12.0 MiB" (as aft's own lines say it).
export function bytesText(count) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let n = count || 0;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit += 1;
  }
  return unit ? `${n.toFixed(1)} ${units[unit]}` : `${Math.round(n)} B`;
}

// One side of a record: "where:path" ("where" alone when there is no path).
function side(where, path) {
  return h("div", null, h("div", { class: "cell-sub" }, where), path ? h("div", { class: "mono" }, path) : null);
}

// A SHA-256 shortened to 12 digits; the whole of it on hover and by its copy button.
function digest(record) {
  if (!record.sha256) return "—";
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(record.sha256);
      toast("SHA-256 copied to the clipboard");
    } catch (e) {
      toast("The browser did not let the page copy", "error");
    }
  };
  return h("span", { class: "nowrap" },
    h("code", { title: record.sha256, "data-sha256": record.sha256 }, `${record.sha256.slice(0, 12)}…`), " ",
    button("Copy", { small: true, icon: "copy", aria: `Copy the SHA-256 of ${record.dstPath || record.srcPath}`, onclick: copy }));
}

// Transfer records as a table; withJob adds the job's column (the Transfers page).
export function transferTable(records, empty, withJob = false) {
  return table([
    withJob ? { label: "Job", cell: (r) => h("a", { href: `#/jobs/${enc(r.jobId)}`, class: "mono" }, r.jobId) } : null,
    { label: "Operation", primary: true, cell: (r) => r.op },
    { label: "Source", cell: (r) => side(r.src, r.srcPath) },
    { label: "Destination", cell: (r) => (r.dst || r.dstPath ? side(r.dst, r.dstPath) : "—") },
    { label: "Bytes", cell: (r) => h("span", { title: `${r.bytes} bytes`, class: "nowrap" }, bytesText(r.bytes)) },
    { label: "SHA-256", cell: digest },
    { label: "Started", cell: (r) => h("span", { class: "nowrap" }, fmtTime(r.started)) },
    { label: "Outcome", cell: (r) => badge(r.outcome, { ok: "succeeded", skipped: "queued" }[r.outcome] || "failed") },
    { label: "Error", cell: (r) => r.error || "" },
  ].filter(Boolean), records, empty);
}

// The Unix time a "YYYY-MM-DDTHH:MM" of a datetime-local field names in zone ("utc" or the
// browser's); null for none.
function unixTime(value, zone) {
  if (!value) return null;
  const ms = zone === "utc" ? Date.parse(`${value}Z`) : new Date(value).getTime();
  return Number.isNaN(ms) ? null : ms / 1000;
}

export async function transfersPage(main, parts, query, ctx) {
  const zone = query.get("zone") === "utc" ? "utc" : "local";
  const job = field({ name: "job", label: "Job", value: query.get("job") || "", placeholder: "job_…", mono: true });
  const since = field({ name: "since", label: "Started since", type: "datetime-local", value: query.get("since") || "" });
  const until = field({ name: "until", label: "Started before", type: "datetime-local", value: query.get("until") || "" });
  const zoneField = field({ name: "zone", label: "Time zone", type: "select", value: zone,
    options: [["local", `This browser's (${browserZone()})`], ["utc", "UTC"]] });
  const path = field({ name: "path", label: "Path", value: query.get("path") || "", placeholder: "*.csv", mono: true });
  const failed = field({ name: "failed", label: "Failed only", type: "checkbox", value: query.get("failed") === "true" });
  const apply = (event) => {
    if (event) event.preventDefault();
    const q = new URLSearchParams();
    for (const [name, f] of [["job", job], ["since", since], ["until", until], ["path", path]]) {
      if (f.input.value.trim()) q.set(name, f.input.value.trim());
    }
    if (zoneField.input.value === "utc") q.set("zone", "utc");
    if (failed.input.checked) q.set("failed", "true");
    go(`#/transfers${q.toString() ? `?${q}` : ""}`);
  };
  for (const f of [zoneField, failed]) f.input.onchange = apply;
  const filters = h("form", { class: "filters", role: "search", onsubmit: apply },
    job, since, until, zoneField, path, failed, button("Apply", { type: "submit", kind: "primary" }));

  // The query of the REST call: the filters as `aft transfers list` takes them.
  const rest = new URLSearchParams();
  if (query.get("job")) rest.set("job", query.get("job"));
  const from = unixTime(query.get("since"), zone);
  const to = unixTime(query.get("until"), zone);
  if (from !== null) rest.set("since", String(from));
  if (to !== null) rest.set("until", String(to));
  if (query.get("path")) rest.set("path", query.get("path"));
  if (query.get("failed") === "true") rest.set("failed", "true");
  const csv = new URLSearchParams(rest);
  csv.set("format", "csv");
  const download = button("Download CSV", { href: `/v1/transfers?${csv}` });
  download.setAttribute("download", "transfers.csv");

  const list = h("div", null, loading());
  const more = h("div", { class: "card-body", hidden: true });
  main.append(pageHead("Transfers", "Every file jobs uploaded, downloaded, copied, moved, deleted or wrote, oldest first.", download),
    card(null, null, [filters, list, more]));
  let records = [];
  let cursor = null;
  const filtered = [...rest.keys()].length > 0;
  const render = () => {
    clear(list, transferTable(records, emptyState("No transfers", filtered ? "No transfer matches these filters." : "Files that jobs move show up here."), true));
    more.hidden = !cursor;
    clear(more, button("Load more", { onclick: load }));
  };
  async function load() {
    const page = new URLSearchParams(rest);
    page.set("limit", "50");
    if (cursor) page.set("cursor", String(cursor));
    try {
      const answer = await api("GET", `/v1/transfers?${page}`);
      if (!ctx.alive()) return;
      records = records.concat(answer.transfers);
      cursor = answer.nextCursor;
      render();
    } catch (error) {
      clear(list, h("div", { class: "card-body" }, h("div", { class: "form-error", role: "alert" }, error.message)));
    }
  }
  await load();
}
