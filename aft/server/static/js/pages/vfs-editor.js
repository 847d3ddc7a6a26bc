// The VFS profile editor: its form comes from the type's schema; the service checks the target.
import { api, enc } from "../api.js";
import { button, card, pageHead } from "../blocks.js";
import { confirmDialog, openDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { check, FieldErrors } from "../errors.js";
import { fmtTime } from "../format.js";
import { clearErrors, field, lockUnless, makeForm, onSubmit, showError } from "../forms.js";
import { go } from "../router.js";
import { vfsNameProblems } from "../validate.js";
import { rememberTest } from "../vfs-tests.js";
import {
  acceptedTarget, addressProblems, filledIn, formValues, guessVfsField, saveCall, splitAdvanced, startValue, testCall, vfsFieldOptions,
} from "../vfs-form.js";

let vfsTypes = null;

async function loadVfsTypes() {
  if (!vfsTypes) vfsTypes = (await api("GET", "/v1/vfs/types")).types;
  return vfsTypes;
}

// The target the fields describe, and what is wrong with them: { target, errors }.
function composeTarget(type, fields, payload) {
  return api("POST", `/v1/vfs/types/${enc(type)}/target`, payload ? { fields, payload } : { fields });
}

export async function deleteVfs(name) {
  if (!(await confirmDialog({ title: `Delete “${name}”?`, body: "Scripts that open it with GetVFS will get null. Its stored credentials are erased." }))) return;
  try {
    await api("DELETE", `/v1/vfs/${enc(name)}`);
    toast(`“${name}” deleted`);
    go("#/vfs");
  } catch (error) {
    toast(error.message, "error");
  }
}

// The editor of the profile name (a new one when name is null).
export async function vfsEditor(main, name, ctx) {
  const [types, profile] = await Promise.all([loadVfsTypes(), name ? api("GET", `/v1/vfs/${enc(name)}`) : null]);
  if (!ctx.alive()) return;
  if (profile) ctx.title(profile.name);
  const specs = Object.fromEntries(types.map((t) => [t.type, t]));
  let type = profile ? profile.type : types[0].type;
  const spec = () => specs[type];
  const guess = (message) => guessVfsField(spec(), message);
  const typeBox = h("div", { class: "field", "data-field": "type" },
    h("span", { class: "label", id: "vfs-type-label" }, "Type"),
    h("div", { class: "segmented", role: "radiogroup", "aria-labelledby": "vfs-type-label" }, types.map((t) =>
      h("label", null, h("input", { type: "radio", name: "type", value: t.type, checked: t.type === type, disabled: Boolean(profile) }), t.type))));
  const blurb = h("p", { class: "hint" });
  const where = h("div", { class: "form" });
  const secrets = h("div", { class: "form" });
  const secretsHead = h("div");
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const result = h("div", { "aria-live": "polite" });
  const nameField = field({ name: "name", label: "Name", value: profile ? profile.name : "", readOnly: Boolean(profile),
    hint: profile ? "A profile keeps its name." : "Scripts open it with GetVFS(\"name\")." });
  const unreadable = profile && !profile.fields ?
    h("p", { class: "hint" }, `The stored target ${profile.target} cannot be read any more: fill in the fields to replace it.`) : null;
  const form = makeForm(nameField, typeBox, blurb, where,
    h("div", { class: "field" }, h("span", { class: "label" }, "Target"), preview, unreadable, h("div", { "data-field": "_target" })),
    secretsHead, secrets, h("div", { "data-field": "_payload" }), result,
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "btn primary" }, profile ? "Save" : "Add VFS"),
      h("button", { type: "button", class: "btn", onclick: () => testForm() }, "Test connection"),
      h("span", { class: "spacer" }),
      profile ? button("Delete", { kind: "danger", need: "admin", onclick: () => deleteVfs(profile.name) }) : null));

  const elementOf = (fieldName) => form.elements.namedItem(fieldName);
  const targetFields = () => formValues(spec().target, elementOf);
  const payloadOf = () => filledIn(formValues(spec().payload, elementOf));

  // The target the fields make, and what is wrong with them all (the form's own problems too).
  const validTarget = async (fields, payload, problems) => acceptedTarget(await composeTarget(type, fields, payload), problems);

  let previewTimer = null;
  let previewSeq = 0;
  const updatePreview = () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      const seq = ++previewSeq;
      let text = "—";
      try {
        text = (await composeTarget(type, targetFields())).target || "—";
      } catch (error) {
        // Said again, next to its field, when the profile is tested or saved.
      }
      if (seq === previewSeq && ctx.alive()) clear(preview, text);
    }, 150);
  };

  // Fields seldom needed go into "More options", open when one of them is set.
  const fieldRows = (fields, input, isSet) => {
    const { basic, more } = splitAdvanced(fields);
    return [
      basic.length ? h("div", { class: "form-row" }, basic.map(input)) : null,
      more.length ? h("details", { open: more.some(isSet) },
        h("summary", null, "More options"), h("div", { class: "form-row" }, more.map(input))) : null,
    ];
  };

  const renderType = () => {
    const s = spec();
    blurb.textContent = s.summary;
    const valueOf = (f) => startValue(f, profile, type);
    clear(where, fieldRows(s.target, (f) => {
      const helper = f.action === "hostkey" ? { addon: button("Fetch", { onclick: () => fetchHostKey(f.name) }) } : {};
      const wrap = field(vfsFieldOptions(f, valueOf(f), helper));
      if (f.action) wrap.classList.add("wide");
      return wrap;
    }, (f) => valueOf(f) !== f.default));
    clear(secretsHead, s.payload.length ? h("div", null, h("h3", { text: "Credentials" }),
      h("p", { class: "hint" }, profile ? "Stored encrypted and never shown. Leave these empty to keep the stored ones; fill any to replace them all." :
        "Stored encrypted at rest, used only to connect, never shown again.")) : null);
    clear(secrets, fieldRows(s.payload, (f) => field(vfsFieldOptions(f, "", profile ? { placeholder: "unchanged" } : {})), () => false));
    updatePreview();
  };

  async function fetchHostKey(pinField) {
    clearErrors(form);
    const host = spec().target.find((f) => f.part === "host");
    if (host && !targetFields()[host.name].trim()) {
      showError(form, new FieldErrors({ [host.name]: "Enter the host first" }));
      return;
    }
    let answer;
    try {
      const { target, errors } = await composeTarget(type, targetFields());
      check(addressProblems(spec(), errors));
      answer = await api("GET", `/v1/vfs/hostkey?url=${enc(target)}`);
    } catch (error) {
      showError(form, error, () => host && host.name);
      return;
    }
    const pin = await openDialog((close) => [
      h("div", { class: "dialog-body" }, h("h2", { text: "Pin this host key?" }),
        h("p", { class: "muted" }, `The server at ${answer.host}:${answer.port} presents this key:`),
        h("pre", { class: "json" }, answer.fingerprint),
        h("p", { class: "hint" }, "Compare it with the fingerprint the server's administrator gives you (for example, ssh-keygen -lf on the server's host key) before you pin it. A different key later stops every connection.")),
      h("div", { class: "form-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: "btn primary", autofocus: true, onclick: () => close(true) }, "Pin this key")),
    ]);
    if (pin) {
      form.elements.namedItem(pinField).value = answer.fingerprint;
      updatePreview();
      form.dispatchEvent(new Event("input"));
    }
  }

  // The last test of what the form held: { what (its target and credentials), ok, message };
  // kept for the list on save.
  let tested = null;
  const testedNow = (target, payload) => tested && tested.what === JSON.stringify([target, payload]);
  // Tests the target (its fields checked first); the outcome stays shown under the form.
  async function runTest(target, fields, payload) {
    const what = JSON.stringify([target, payload]);
    try {
      const answer = await api(...testCall({ profile, type, target, fields, payload, credentials: spec().payload.length > 0 }));
      tested = { what, ok: true, message: answer.message };
      clear(result, h("div", { class: "notice ok", role: "status" }, `Connection works: ${answer.message}.`));
    } catch (error) {
      if (error instanceof FieldErrors || !error.status || error.status >= 500) throw error;
      tested = { what, ok: false, message: error.message };
      clear(result, h("div", { class: "notice error", role: "status" }, `Connection failed: ${error.message}`));
      throw error;
    } finally {
      if (profile && testedNow(target, payload)) rememberTest(profile.name, tested.ok, tested.message);
    }
    return tested;
  }

  async function testForm() {
    clearErrors(form);
    clear(result);
    try {
      const payload = payloadOf();
      const fields = targetFields();
      await runTest(await validTarget(fields, payload, {}), fields, payload);
    } catch (error) {
      showError(form, error, guess);
    }
  }

  // Every target is tested before it is saved (unless the form's last test passed): a failing
  // one is saved only when the user says so.
  async function testBeforeSave(target, fields, payload) {
    if (testedNow(target, payload) && tested.ok) return true;
    try {
      await runTest(target, fields, payload);
      return true;
    } catch (error) {
      if (!testedNow(target, payload)) throw error;
      return confirmDialog({ title: "Save a VFS that does not work yet?", confirm: "Save anyway", danger: false,
        body: `The connection test failed: ${error.message.replace(/\.$/, "")}. Scripts that open it will fail until that is fixed.` });
    }
  }

  typeBox.addEventListener("change", (event) => {
    if (event.target.name === "type") {
      type = event.target.value;
      clearErrors(form);
      clear(result);
      tested = null;
      renderType();
    }
  });
  form.addEventListener("input", updatePreview);
  form.addEventListener("change", updatePreview);
  onSubmit(form, async (f) => {
    const problems = profile ? {} : vfsNameProblems(f.name.value);
    const payload = payloadOf();
    const fields = targetFields();
    const target = await validTarget(fields, payload, problems);
    if (!(await testBeforeSave(target, fields, payload))) return;
    const saved = await api(...saveCall({ profile, name: f.name.value, type, target, payload }));
    if (testedNow(target, payload)) rememberTest(saved.name, tested.ok, tested.message);
    toast(profile ? `Saved “${profile.name}”` : `Added “${saved.name}”`);
    go("#/vfs");
  }, guess);
  renderType();
  lockUnless(form, "admin");
  main.append(h("a", { class: "crumb", href: "#/vfs" }, "← VFS Library"),
    pageHead(profile ? profile.name : "Add a VFS", profile ? `${profile.type} · changed ${fmtTime(profile.updated)}` : "Choose a type, fill in where it is, and test the connection before you save."),
    card(null, null, h("div", { class: "card-body" }, form)));
}
