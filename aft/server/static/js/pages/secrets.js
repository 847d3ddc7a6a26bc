// The Secrets page: passwords and tokens for scripts, listed by name (values are write-only).
import { api, enc } from "../api.js";
import { button, card, emptyState, loading, pageHead, table, when } from "../blocks.js";
import { confirmDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { check, guessBy } from "../errors.js";
import { fmtTime } from "../format.js";
import { clearErrors, field, lockUnless, makeForm, onSubmit } from "../forms.js";
import { secretProblems } from "../validate.js";

export async function secretsPage(main, parts, query, ctx) {
  const body = h("div", null, loading());
  let updated = {};  // when each stored secret was last set, by name
  let replacing = null;  // the name whose "Replace value" was chosen
  const heading = h("h2", { text: "Add a secret" });
  const nameField = field({ name: "name", label: "Name", hint: "Scripts read it with GetSecret(\"name\"); names are case-sensitive." });
  const valueField = field({ name: "value", label: "Value", type: "password", autocomplete: "new-password", hint: "Write-only: stored encrypted, never shown again, masked in job logs." });
  const form = makeForm(h("div", { class: "form-row" }, nameField, valueField),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Save secret"),
      h("button", { type: "reset", class: "btn ghost", onclick: () => { heading.textContent = "Add a secret"; replacing = null; clearErrors(form); } }, "Clear")));
  lockUnless(form, "admin");
  onSubmit(form, async (f) => {
    check(secretProblems({ name: f.name.value, value: f.value.value }));
    const name = f.name.value.trim();
    if (Object.hasOwn(updated, name) && name !== replacing && !(await confirmDialog({
      title: `Replace the secret “${name}”?`, confirm: "Replace",
      body: `A secret named “${name}” exists (set ${fmtTime(updated[name])}). Its value will be replaced; scripts read the new one from then on.`,
    }))) return;
    await api("PUT", `/v1/secrets/${enc(name)}`, { value: f.value.value });
    form.reset();
    replacing = null;
    heading.textContent = "Add a secret";
    toast(`Secret “${name}” saved`);
    await load();
  }, guessBy([[/value/i, "value"], [/name/i, "name"]]));
  main.append(pageHead("Secrets", "Passwords and tokens for scripts. Only names are listed: values are write-only."),
    h("section", { class: "card" }, h("div", { class: "card-head" }, heading), h("div", { class: "card-body" }, form)),
    card("Stored secrets", null, body));

  async function load() {
    const answer = await api("GET", "/v1/secrets");
    if (!ctx.alive()) return;
    updated = answer.updated;
    clear(body, table([
      { label: "Name", primary: true, cell: (n) => h("span", { class: "cell-main mono" }, n) },
      { label: "Value", cell: () => h("span", { class: "faint", "aria-label": "hidden" }, "hidden") },
      { label: "Changed", cell: (n) => when(updated[n]) },
      { label: "Actions", class: "actions-cell", cell: (n) => h("div", { class: "actions" },
        button("Replace value", { small: true, need: "admin", aria: `Replace the value of ${n}`, onclick: () => {
          form.elements.name.value = n;
          replacing = n;
          heading.textContent = `Replace the value of “${n}”`;
          form.elements.value.value = "";
          form.elements.value.focus();
        } }),
        button("Delete", { small: true, kind: "danger", need: "admin", aria: `Delete ${n}`, onclick: async () => {
          if (!(await confirmDialog({ title: `Delete the secret “${n}”?`, body: "Scripts that read it get an empty string from then on." }))) return;
          try {
            await api("DELETE", `/v1/secrets/${enc(n)}`);
            toast(`Secret “${n}” deleted`);
            await load();
          } catch (error) {
            toast(error.message, "error");
          }
        } })) },
    ], answer.secrets, emptyState("No secrets yet", "Add one above; scripts read it with GetSecret.")));
  }
  await load();
}
