// What the Scripts list and the script editor both offer: run now, clone, delete.
import { api, enc } from "../api.js";
import { confirmDialog, openDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { check, guessBy } from "../errors.js";
import { clearErrors, field, makeForm, onSubmit, showError } from "../forms.js";
import { icon } from "../icons.js";
import { fieldNames, fieldsParams, fieldText, paramNames, paramsText, parseParams } from "../params.js";
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
// Each param the script's source reads gets a field (params of a past job too); "Edit as
// JSON" shows the same params as a JSON object instead, the two kept in step.
export function runDialog(name, params = {}, id = null) {
  return openDialog((close) => {
    let names = [];
    let base = params || {};
    const reads = h("p", { class: "hint", "aria-live": "polite" });
    const fields = h("div", { class: "form-row" });
    const json = field({ name: "params", label: "Params as JSON", type: "textarea", mono: true, optional: true, rows: 5, placeholder: '{"destination": "D:\\Archive\\2026"}',
      value: paramsText(base), hint: "A JSON object of names and plain values, read by Param(name). Single backslashes are kept as typed." });
    const asJson = field({ name: "asJson", label: "Edit as JSON", type: "checkbox" });
    json.hidden = true;
    const inputs = () => [...fields.querySelectorAll("input[data-param]")];
    const texts = () => Object.fromEntries(inputs().map((input) => [input.dataset.param, input.value]));
    // Shows a field for each param the script reads or base holds, with base's values.
    const showFields = () => {
      clear(fields, fieldNames(names, base).map((param) => {
        const wrap = field({ name: `param.${param}`, label: param, value: param in base ? fieldText(base[param]) : "", optional: true });
        wrap.input.dataset.param = param;
        return wrap;
      }));
    };
    fields.addEventListener("input", () => {
      base = fieldsParams(texts(), base);
      json.input.value = paramsText(base);
    });
    json.input.addEventListener("input", () => {
      try {
        base = parseParams(json.input.value);
      } catch {
        return; // said on Run now, or when going back to the fields
      }
      showFields();
    });
    asJson.input.addEventListener("change", () => {
      clearErrors(form);
      if (!asJson.input.checked) {
        try {
          base = parseParams(json.input.value);
        } catch (error) {
          asJson.input.checked = true;
          showError(form, error);
          return;
        }
        showFields();
      }
      fields.hidden = asJson.input.checked;
      json.hidden = !asJson.input.checked;
    });
    const form = makeForm(
      h("div", { class: "field" }, h("span", { class: "label" }, "Params"), reads, fields),
      json, asJson,
      h("div", { class: "form-actions" }, h("span", { class: "spacer" }),
        h("button", { type: "button", class: "btn", onclick: () => close() }, "Cancel"),
        h("button", { type: "submit", class: "btn primary" }, icon("play"), "Run now")));
    showFields();
    api("GET", `/v1/scripts/${enc(id || name)}`).then((script) => {
      names = paramNames(script.source);
      reads.textContent = names.length ? `The script reads: ${names.join(", ")}.` : "The script reads no named params; add others with Edit as JSON.";
      showFields();
    }, () => {});
    onSubmit(form, async (f) => {
      const sent = f.asJson.checked ? parseParams(f.params.value) : fieldsParams(texts(), base);
      const job = await api("POST", "/v1/jobs", id ? { scriptId: id, params: sent } : { scriptName: name, params: sent });
      close(job);
      toast(`Job ${job.jobId} queued`);
      go(`#/jobs/${enc(job.jobId)}`);
    }, (message) => (asJson.input.checked && /param/i.test(message) ? "params" : null));
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
