// What the Scripts list and the script editor both offer: run now, clone, delete.
import { api, enc } from "../api.js";
import { confirmDialog, openDialog, toast } from "../dialogs.js";
import { h } from "../dom.js";
import { check, guessBy } from "../errors.js";
import { field, makeForm, onSubmit } from "../forms.js";
import { icon } from "../icons.js";
import { paramNames, paramsText, parseParams } from "../params.js";
import { go } from "../router.js";

export async function deleteScript(name, after) {
  if (!(await confirmDialog({ title: `Delete the script “${name}”?`, body: "Its past jobs and their logs stay. Schedules that run it will fail." }))) return;
  try {
    await api("DELETE", `/v1/scripts/${enc(name)}`);
    toast(`Script “${name}” deleted`);
    after();
  } catch (error) {
    toast(error.message, "error");
  }
}

// Asks for the params (params: those to start from) and queues a job of the script name
// (by its id when given: a past job's script may have been renamed since), then shows it.
// The dialog names the params the script's source reads.
export function runDialog(name, params = {}, id = null) {
  return openDialog((close) => {
    const reads = h("p", { class: "hint", "aria-live": "polite" });
    const form = makeForm(
      field({ name: "params", label: "Params", type: "textarea", mono: true, optional: true, rows: 5, placeholder: '{"destination": "D:\\Archive\\2026"}',
        value: paramsText(params), hint: "A JSON object of names and plain values, read by Param(name). Single backslashes are kept as typed." }),
      reads,
      h("div", { class: "form-actions" }, h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", onclick: () => close() }, "Cancel"),
        h("button", { type: "submit", class: "btn primary" }, icon("play"), "Run now")));
    api("GET", `/v1/scripts/${enc(id || name)}`).then((script) => {
      const names = paramNames(script.source);
      reads.textContent = names.length ? `The script reads: ${names.join(", ")}.` : "The script reads no named params.";
    }, () => {});
    onSubmit(form, async (f) => {
      const params = parseParams(f.params.value);
      const job = await api("POST", "/v1/jobs", id ? { scriptId: id, params } : { scriptName: name, params });
      close(job);
      toast(`Job ${job.jobId} queued`);
      go(`#/jobs/${enc(job.jobId)}`);
    }, guessBy([[/param/i, "params"]]));
    return h("div", { class: "dialog-body" }, h("h2", { text: `Run “${name}”` }), form);
  });
}

// Asks for a name and stores a copy of the script under it, then opens the copy.
export function cloneDialog(name) {
  return openDialog((close) => {
    const form = makeForm(
      field({ name: "name", label: "Name of the copy", value: `${name} copy` }),
      h("div", { class: "form-actions" }, h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", onclick: () => close() }, "Cancel"),
        h("button", { type: "submit", class: "btn primary" }, "Clone")));
    onSubmit(form, async (f) => {
      if (!f.name.value.trim()) check({ name: "Enter a name for the copy" });
      const original = await api("GET", `/v1/scripts/${enc(name)}`);
      const copy = await api("POST", "/v1/scripts", {
        name: f.name.value.trim(), source: original.source, retries: original.retries, retryBackoff: original.retryBackoff,
      });
      close(copy);
      toast(`Cloned as “${copy.name}”`);
      go(`#/scripts/${enc(copy.name)}`);
    }, guessBy([[/./, "name"]]));
    return h("div", { class: "dialog-body" }, h("h2", { text: `Clone “${name}”` }), form);
  });
}
