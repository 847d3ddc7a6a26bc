// The Schedules page: scripts run at set times, like cron; a form above the list edits one.
import { api, enc } from "../api.js";
import { cronWords } from "../cron-words.js";
import { badge, button, card, emptyState, loading, pageHead, table } from "../blocks.js";
import { confirmDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { check, guessBy } from "../errors.js";
import { browserZone, fmtTime } from "../format.js";
import { field, makeForm, onSubmit } from "../forms.js";
import { notificationsSection } from "../notify-section.js";
import { parseParams } from "../params.js";
import { scheduleProblems } from "../validate.js";
import { lastRunCell } from "./jobs.js";

const OVERLAP = [["skip", "Skip the run if the last one still runs"], ["queue", "Queue it after the last one"], ["allow", "Run in parallel"]];

// What PUT /v1/schedules/{id} takes of a schedule.
const scheduleBody = (s) => ({ name: s.name, cron: s.cron, timezone: s.timezone, script: s.script, params: s.params || {}, enabled: s.enabled, overlap: s.overlap, catchUp: s.catchUp });

export async function schedulesPage(main, parts, query, ctx) {
  const body = h("div", null, loading());
  const formCard = h("div");
  main.append(pageHead("Schedules", "Run scripts at set times, like cron.",
    button("New schedule", { kind: "primary", icon: "plus", need: "admin", onclick: () => edit(null) })), formCard, card(null, null, body));
  let scripts = [];
  try {
    scripts = (await api("GET", "/v1/scripts")).scripts;
  } catch (e) { scripts = []; }

  function edit(item) {
    const s = item || { name: "", cron: "0 2 * * *", timezone: browserZone(), script: scripts[0] ? scripts[0].name : "", params: {}, enabled: true, overlap: "skip", catchUp: false };
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    const list = h("datalist", { id: "zones" }, zones.map((z) => h("option", { value: z })));
    const tz = field({ name: "timezone", label: "Time zone", value: s.timezone, hint: "An IANA zone, like Europe/Berlin." });
    const preview = h("div", { class: "field cron-preview", "aria-live": "polite" });
    tz.input.setAttribute("list", "zones");
    const form = makeForm(
      h("div", { class: "form-row" },
        field({ name: "name", label: "Name", value: s.name }),
        field({ name: "script", label: "Script", type: "select", value: s.script, options: scripts.map((x) => x.name) })),
      h("div", { class: "form-row" },
        field({ name: "cron", label: "When (cron)", value: s.cron, mono: true, hint: "minute hour day-of-month month day-of-week (or seconds first: 6 fields); 0 2 * * * is 02:00 every day." }),
        tz, list),
      preview,
      field({ name: "params", label: "Params", type: "textarea", mono: true, optional: true, rows: 3, value: Object.keys(s.params || {}).length ? JSON.stringify(s.params, null, 2) : "" }),
      h("div", { class: "form-row" },
        field({ name: "overlap", label: "If the last run has not ended", type: "select", value: s.overlap, options: OVERLAP }),
        h("div", { class: "form" },
          field({ name: "enabled", label: "Enabled", type: "checkbox", value: s.enabled }),
          field({ name: "catchUp", label: "Catch up", type: "checkbox", value: s.catchUp, hint: "Run once after a time missed while aft was stopped." }))),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, item ? "Save schedule" : "Create schedule"),
        button("Cancel", { kind: "ghost", onclick: () => clear(formCard) })));
    onSubmit(form, async (f) => {
      check(scheduleProblems({ name: f.name.value, script: f.script.value, cron: f.cron.value, timezone: f.timezone.value }));
      const payload = {
        name: f.name.value.trim(), cron: f.cron.value.trim(), timezone: f.timezone.value.trim(), script: f.script.value,
        params: parseParams(f.params.value), enabled: f.enabled.checked, overlap: f.overlap.value, catchUp: f.catchUp.checked,
      };
      if (item) await api("PUT", `/v1/schedules/${enc(item.id)}`, payload);
      else await api("POST", "/v1/schedules", payload);
      clear(formCard);
      toast(item ? "Schedule saved" : "Schedule created");
      await load();
    }, guessBy([[/cron|minute|hour|expression/i, "cron"], [/zone/i, "timezone"], [/script/i, "script"], [/param/i, "params"], [/overlap/i, "overlap"], [/name/i, "name"]]));
    // The next runs of the cron line as typed, in the schedule's zone and the browser's.
    let previewTimer = null;
    let previewSeq = 0;
    const updatePreview = () => {
      clearTimeout(previewTimer);
      previewTimer = setTimeout(async () => {
        const seq = ++previewSeq;
        const zone = form.elements.timezone.value.trim();
        let answer;
        try {
          answer = await api("POST", "/v1/cron/preview", { cron: form.elements.cron.value, timezone: zone });
        } catch (error) {
          answer = { runs: [], errors: { cron: error.message } };
        }
        if (seq !== previewSeq || !ctx.alive()) return;
        const problems = Object.values(answer.errors);
        const words = problems.length ? null : cronWords(form.elements.cron.value);
        clear(preview, h("span", { class: "label" }, "Next runs"), words ? h("p", { class: "hint" }, `${words} (${zone})`) : null,
          problems.length ? h("p", { class: "hint" }, problems.join(" ")) :
          h("ol", { class: "runs" }, answer.runs.map((t) => h("li", null, h("span", { class: "mono" }, fmtTime(t, zone)),
            zone === browserZone() ? null : h("span", { class: "cell-sub" }, ` · your time ${fmtTime(t)}`)))));
      }, 200);
    };
    form.elements.cron.addEventListener("input", updatePreview);
    form.elements.timezone.addEventListener("input", updatePreview);
    updatePreview();
    clear(formCard, card(item ? `Edit “${item.name}”` : "New schedule", null, h("div", { class: "card-body" }, form)),
      item ? notificationsSection({ schedule: item.name }, ctx) : null);
    form.elements.name.focus();
  }

  async function load() {
    const answer = await api("GET", "/v1/schedules");
    if (!ctx.alive()) return;
    const items = answer.schedules;
    clear(body, table([
      { label: "Name", primary: true, cell: (s) => h("span", { class: "cell-main" }, s.name) },
      { label: "Script", cell: (s) => h("a", { href: `#/scripts/${enc(s.script)}` }, s.script) },
      { label: "When", cell: (s) => h("div", null, h("code", null, s.cron), " ", h("span", { class: "cell-sub" }, s.timezone),
        cronWords(s.cron) ? h("div", { class: "cell-sub" }, cronWords(s.cron)) : null) },
      { label: "Next run", cell: (s) => !s.nextRun ? "—" : h("div", null, h("span", { class: "nowrap" }, fmtTime(s.nextRun, s.timezone)),
        s.timezone === browserZone() ? null : h("div", { class: "cell-sub" }, `your time ${fmtTime(s.nextRun)}`)) },
      { label: "Last run", cell: (s) => lastRunCell(s.lastJobId ? api("GET", `/v1/jobs/${enc(s.lastJobId)}`) : Promise.resolve(null)) },
      { label: "State", cell: (s) => s.enabled ? badge("enabled", "on") : badge("paused", "queued") },
      { label: "Actions", class: "actions-cell", cell: (s) => h("div", { class: "actions" },
        button("Edit", { small: true, need: "admin", aria: `Edit ${s.name}`, onclick: () => edit(s) }),
        button(s.enabled ? "Pause" : "Enable", { small: true, need: "admin", onclick: async () => {
          try {
            await api("PUT", `/v1/schedules/${enc(s.id)}`, { ...scheduleBody(s), enabled: !s.enabled });
            await load();
          } catch (error) { toast(error.message, "error"); }
        } }),
        button("Delete", { small: true, kind: "danger", need: "admin", aria: `Delete ${s.name}`, onclick: async () => {
          if (!(await confirmDialog({ title: `Delete the schedule “${s.name}”?`, body: "Jobs it started stay; it starts no more." }))) return;
          try {
            await api("DELETE", `/v1/schedules/${enc(s.id)}`);
            toast("Schedule deleted");
            await load();
          } catch (error) { toast(error.message, "error"); }
        } })) },
    ], items, emptyState("No schedules", "Create one to run a script at set times.")));
  }
  await load();
}
