// One job's page: its state and details, its log as it is written, halt and run again.
import { api, enc } from "../api.js";
import { badge, button, card, emptyState, loading, pageHead } from "../blocks.js";
import { confirmDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { clockTime, duration, fmtTime } from "../format.js";
import { levelName, lineMatches, logText } from "../job-log.js";
import { FINAL } from "../job-states.js";
import { runDialog } from "./script-actions.js";
import { bytesText, transferTable } from "./transfers.js";

// Asks, then sends the halt signal to a job; true when it was sent.
export async function haltJob(jobId, scriptName) {
  if (!(await confirmDialog({
    title: `Halt this job of “${scriptName}”?`, confirm: "Halt job",
    body: "The script gets the halt signal. If it has not stopped when the grace period ends, its process is killed.",
  }))) return false;
  try {
    const answer = await api("POST", `/v1/jobs/${enc(jobId)}/halt`);
    toast(answer.status === "halted" ? "Job halted" : "Halt requested");
    return true;
  } catch (error) {
    toast(error.message, "error");
    return false;
  }
}

// The most files the Files tab shows (the Transfers page pages through them all).
const SHOWN = 2000;

export async function jobPage(main, jobId, ctx) {
  let job = await api("GET", `/v1/jobs/${enc(jobId)}`);
  if (!ctx.alive()) return;
  ctx.title(job.scriptName);
  const head = h("div");
  const meta = h("div", { class: "card-body" });
  const log = h("div", { class: "log", role: "log", "aria-label": "Job log", tabindex: "0" });
  const follow = h("input", { type: "checkbox", checked: true, id: "follow" });
  const liveNote = h("span", { class: "live" });
  const took = h("span");  // counts up while the job runs
  const lines = [];  // every log line read so far
  const search = h("input", { type: "search", class: "log-search", placeholder: "Search the log", "aria-label": "Search the log" });
  const found = h("span", { class: "cell-sub", "aria-live": "polite" });
  let offset = 0;
  let logDone = false;  // a log page said the job had ended: every line is in
  const bar = h("progress", { "aria-label": "Transfer progress" });
  bar.style.width = "100%";
  const barText = h("p", { class: "cell-sub", "aria-live": "polite" });
  const progressCard = h("section", { class: "card", hidden: true },
    h("div", { class: "card-head" }, h("div", null, h("h2", { text: "Progress" }))),
    h("div", { class: "card-body" }, bar, barText));
  const records = [];  // the job's transfer records read so far, oldest first
  const files = h("div", null, loading());
  let filesDone = false;  // every record is in (the job had ended when they were read)

  // The live progress bar: files done of the total when known, bytes, rate, current file.
  const renderProgress = () => {
    const p = job.progress;
    progressCard.hidden = FINAL.has(job.status) || !p;
    if (progressCard.hidden) return;
    if (p.filesTotal) {
      bar.max = p.filesTotal;
      bar.value = Math.min(p.filesDone, p.filesTotal);
    } else {
      bar.removeAttribute("value");  // no total yet: an indeterminate bar
    }
    const count = p.filesTotal ? `${p.filesDone} of ${p.filesTotal} files` : `${p.filesDone} files`;
    const failedNote = p.filesFailed ? ` (${p.filesFailed} failed)` : "";
    barText.textContent = [`${count}${failedNote}`, bytesText(p.bytes), `${bytesText(p.rate)}/s`, p.currentFile].filter(Boolean).join(" · ");
  };

  // Reads the records written since the last read (up to SHOWN) and shows them in the
  // Files tab; the Transfers page has them all.
  let rendered = false;
  async function pollFiles() {
    const ended = FINAL.has(job.status);
    let added = 0;
    while (records.length < SHOWN) {
      const after = records.length ? records[records.length - 1].seq : 0;
      const page = await api("GET", `/v1/jobs/${enc(jobId)}/transfers?limit=1000&cursor=${after}`);
      if (!ctx.alive()) return;
      records.push(...page.transfers);
      added += page.transfers.length;
      if (!page.nextCursor) break;
    }
    const full = records.length >= SHOWN;
    filesDone = ended || full;
    if (rendered && !added && !ended) return;  // nothing new to show
    rendered = true;
    filesTab.lastChild.textContent = `Files (${records.length}${full ? "+" : ""})`;
    clear(files, transferTable(records, emptyState("No files", ended ? "This job moved no files." : "Files show up here as the job moves them.")),
      full ? h("p", { class: "card-body" }, `The first ${SHOWN} files. `,
        h("a", { href: `#/transfers?job=${enc(jobId)}` }, "Every file of this job on the Transfers page")) : null);
  }

  const renderHead = () => {
    const live = !FINAL.has(job.status);
    clear(head, h("a", { class: "crumb", href: "#/jobs" }, "← Jobs"),
      pageHead(job.scriptName, null,
        badge(job.status),
        live ? button("Halt", { kind: "danger", icon: "stop", need: "run", onclick: halt }) : null,
        live ? null : button("Run again with params", { icon: "play", need: "run", onclick: () => runDialog(job.scriptName, job.params, job.scriptId) })));
    clear(liveNote, live ? [h("span", { class: "dot" }), "live"] : null);
    took.textContent = duration(job);
    const items = [
      ["Job", h("span", { class: "mono" }, job.jobId)],
      ["State", job.status],
      ["Trigger", job.trigger],
      ["Started by", job.startedBy || "—"],
      ["Worker group", job.group],
      ["Attempt", `${job.attempt} of ${job.maxAttempts}`],
      ["Queued", fmtTime(job.created)],
      ["Started", fmtTime(job.started)],
      ["Finished", fmtTime(job.finished)],
      ["Duration", took],
      ["Exit code", job.exitCode ?? "—"],
    ];
    if (job.retryOf) items.push(["Retry of", h("a", { href: `#/jobs/${enc(job.retryOf)}`, class: "mono" }, job.retryOf)]);
    clear(meta, h("dl", { class: "meta" }, items.map(([k, v]) => h("div", null, h("dt", { text: k }), h("dd", null, v)))),
      Object.keys(job.params || {}).length ? h("div", { class: "job-error" }, h("h3", { text: "Params" }),
        h("pre", { class: "json" }, JSON.stringify(job.params, null, 2))) : null,
      job.error ? h("div", { class: "job-error form-error", role: "alert" },
        job.errorLine && job.scriptId ? [h("a", { href: `#/scripts/${enc(job.scriptId)}?line=${job.errorLine}` }, `Line ${job.errorLine}`), `: ${job.error}`] :
          job.errorLine ? `Line ${job.errorLine}: ${job.error}` : job.error) : null);
    renderProgress();
  };

  // Shows only the lines that hold the text searched for, and how many there are.
  const showFound = () => {
    const rows = log.querySelectorAll(".log-line");
    let shown = 0;
    rows.forEach((row, i) => {
      row.hidden = !lineMatches(lines[i], search.value);
      if (!row.hidden) shown += 1;
    });
    found.textContent = search.value.trim() ? `${shown} of ${lines.length} lines` : "";
  };
  search.addEventListener("input", showFound);

  const download = () => {
    const url = URL.createObjectURL(new Blob([logText(lines)], { type: "text/plain" }));
    const link = h("a", { href: url, download: `${job.jobId}.log`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  const addLines = (more) => {
    if (!more.length) return;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
    const empty = log.querySelector(".log-empty");
    if (empty) empty.remove();
    for (const line of more) {
      lines.push(line);
      const row = h("div", { class: `log-line ${line.level}` },
        h("span", { class: "t", title: fmtTime(line.time) }, clockTime(line.time)),
        h("span", { class: "l" }, levelName(line.level)),
        h("span", { class: "x" }, line.text));
      log.append(row);
    }
    if (search.value.trim()) showFound();
    if (follow.checked && (atBottom || offset === 0)) log.scrollTop = log.scrollHeight;
  };

  async function poll() {
    for (;;) {
      const page = await api("GET", `/v1/jobs/${enc(jobId)}/log?offset=${offset}`);
      if (!ctx.alive()) return;
      addLines(page.lines);
      offset = page.nextOffset;
      if (FINAL.has(page.status)) logDone = true;
      if (page.status !== job.status || (FINAL.has(page.status) && !job.finished)) {
        job = await api("GET", `/v1/jobs/${enc(jobId)}`);
        if (!ctx.alive()) return;
        renderHead();
      }
      if (page.lines.length < 1000) break;
    }
    const empty = log.querySelector(".log-empty");
    if (!log.querySelector(".log-line")) {
      clear(log, h("div", { class: "log-empty" }, logDone ? "This job wrote no log lines." : "Waiting for the first log line…"));
    } else if (empty) {
      empty.remove();
    }
  }

  async function halt() {
    if (!(await haltJob(jobId, job.scriptName))) return;
    job = await api("GET", `/v1/jobs/${enc(jobId)}`);
    renderHead();
  }

  // The Log and Files tabs: one shows at a time.
  const tab = (value, label) => h("label", null,
    h("input", { type: "radio", name: "job-tab", value, checked: value === "log" }), h("span", null, label));
  const logTab = tab("log", "Log");
  const filesTab = tab("files", "Files");
  const logActions = h("div", { class: "actions" }, found, search, button("Download", { small: true, onclick: download }), liveNote,
    h("label", { class: "check", htmlFor: "follow" }, follow, h("span", null, "Follow")));
  const showTab = () => {
    const showFiles = filesTab.firstChild.checked;
    log.hidden = showFiles;
    logActions.hidden = showFiles;
    files.hidden = !showFiles;
  };
  for (const t of [logTab, filesTab]) t.firstChild.onchange = showTab;

  renderHead();
  main.append(head, progressCard, card(null, null, meta),
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("div", { class: "segmented", role: "radiogroup", "aria-label": "Show" }, logTab, filesTab), logActions),
      log, files));
  showTab();
  await poll();
  await pollFiles();
  ctx.every(1000, async () => {
    took.textContent = duration(job);
    if (!FINAL.has(job.status)) {
      const was = job.status;
      job = await api("GET", `/v1/jobs/${enc(jobId)}`);
      if (!ctx.alive()) return;
      if (job.status !== was) renderHead();
      else renderProgress();
    }
    if (!logDone) await poll();
    if (!filesDone) await pollFiles();
  });
}
