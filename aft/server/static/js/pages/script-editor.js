// The script editor: a new script or a stored one, its settings and its source.
import { api, enc } from "../api.js";
import { button, card, pageHead } from "../blocks.js";
import { codeEditor, lineOf } from "../code-editor.js";
import { toast } from "../dialogs.js";
import { h } from "../dom.js";
import { check, guessBy } from "../errors.js";
import { fmtTime } from "../format.js";
import { field, lockUnless, makeForm, onSubmit } from "../forms.js";
import { notificationsSection } from "../notify-section.js";
import { go } from "../router.js";
import { scriptHistory } from "../script-history.js";
import { scriptProblems } from "../validate.js";
import { deleteScript, runDialog } from "./script-actions.js";

const NEW_SCRIPT = {
  name: "", source: '// Param(name) reads a job parameter; GetVFS(name) opens a VFS Library entry.\nLog("Hello from " + ScriptName());\n', retries: 0, retryBackoff: 30, group: "default",
};

const guessScript = guessBy([[/retries/i, "retries"], [/backoff/i, "retryBackoff"], [/source/i, "source"], [/group/i, "group"], [/name/i, "name"]]);

// The editor of the script name (a new one when name is null).
export async function scriptEditor(main, name, ctx, line = null) {
  const [script, about] = await Promise.all([
    name ? api("GET", `/v1/scripts/${enc(name)}`) : { ...NEW_SCRIPT },
    api("GET", "/ui/about").catch(() => null),
  ]);
  const cluster = Boolean(about && about.cluster);
  if (!ctx.alive()) return;
  if (name) ctx.title(script.name);
  let dirty = false;
  ctx.guard = () => (dirty ? "The script has unsaved changes. Leave without saving them?" : null);
  const editor = codeEditor("source", script.source, "Source");
  const form = makeForm(
    h("div", { class: "form-row" },
      field({ name: "name", label: "Name", value: script.name, hint: "Unique, any case. aft start -n NAME runs it." }),
      field({ name: "retries", label: "Retries", type: "number", value: script.retries, min: 0, max: 100, inputmode: "numeric", hint: "Runs again after a failure, 0 to 100 times." }),
      field({ name: "retryBackoff", label: "Backoff (seconds)", type: "number", value: script.retryBackoff, min: 0, max: 86400, hint: "Wait before the first retry; doubles each time." }),
      cluster ? field({ name: "group", label: "Worker group", value: script.group, hint: "Its jobs run on the worker nodes of this group (aft worker --group)." }) : null),
    editor,
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "btn primary" }, name ? "Save" : "Create script"),
      name ? button("Run now", { icon: "play", need: "run", onclick: () => runNow() }) : null,
      h("span", { class: "spacer" }),
      name ? button("Delete", { kind: "danger", need: "admin", onclick: () => deleteScript(script.name, () => { dirty = false; go("#/scripts"); }) }) : null));
  lockUnless(form, "admin");
  form.addEventListener("input", () => { dirty = true; });
  // Runs what the page shows: unsaved changes are saved first (a failed save runs nothing).
  let runAfterSave = false;
  const runNow = () => {
    if (!dirty) return runDialog(script.name);
    runAfterSave = true;
    form.requestSubmit();
  };
  form.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  onSubmit(form, async (f) => {
    const run = runAfterSave;
    runAfterSave = false;
    check(scriptProblems({
      name: f.name.value, retries: f.retries.value, retryBackoff: f.retryBackoff.value, group: cluster ? f.group.value : "",
    }, cluster));
    const body = { name: f.name.value.trim(), source: f.source.value, retries: Number(f.retries.value), retryBackoff: Number(f.retryBackoff.value) };
    if (cluster) body.group = f.group.value.trim();
    let saved;
    try {
      saved = name ? await api("PUT", `/v1/scripts/${enc(name)}`, body) : await api("POST", "/v1/scripts", body);
    } catch (error) {
      if (error.field === "source" && lineOf(error.message)) editor.goToLine(lineOf(error.message));
      throw error;
    }
    dirty = false;
    toast(name ? `Saved “${saved.name}”` : `Created “${saved.name}”`);
    if (saved.name !== name) go(`#/scripts/${enc(saved.name)}`);
    if (run) runDialog(saved.name);
  }, guessScript);
  main.append(
    h("a", { class: "crumb", href: "#/scripts" }, "← Scripts"),
    pageHead(name ? script.name : "New script", name ? `Id ${script.id} · changed ${fmtTime(script.updated)}` : "Write a SyncJS script; it runs in its own process with the VFS Library and secrets of this instance."),
    card(null, null, h("div", { class: "card-body" }, form)),
    name ? scriptHistory(script.name) : null,
    name ? notificationsSection({ script: script.name }, ctx) : null);
  if (line) editor.goToLine(line);
}
