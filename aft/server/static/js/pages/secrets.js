// The Secrets page: passwords and tokens for scripts, listed by name (values are write-only).
import { api, enc } from "../api.js";
import { button, card, emptyState, loading, pageHead, table } from "../blocks.js";
import { confirmDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { check, guessBy } from "../errors.js";
import { clearErrors, field, makeForm, onSubmit } from "../forms.js";
import { secretProblems } from "../validate.js";

export async function secretsPage(main, parts, query, ctx) {
  const body = h("div", null, loading());
  const heading = h("h2", { text: "Add a secret" });
  const nameField = field({ name: "name", label: "Name", hint: "Scripts read it with GetSecret(\"name\"); names are case-sensitive." });
  const valueField = field({ name: "value", label: "Value", type: "password", autocomplete: "new-password", hint: "Write-only: stored encrypted, never shown again, masked in job logs." });
  const form = makeForm(h("div", { class: "form-row" }, nameField, valueField),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Save secret"),
      h("button", { type: "reset", class: "btn ghost", onclick: () => { heading.textContent = "Add a secret"; clearErrors(form); } }, "Clear")));
  onSubmit(form, async (f) => {
    check(secretProblems({ name: f.name.value, value: f.value.value }));
    const name = f.name.value.trim();
    await api("PUT", `/v1/secrets/${enc(name)}`, { value: f.value.value });
    form.reset();
    heading.textContent = "Add a secret";
    toast(`Secret “${name}” saved`);
    await load();
  }, guessBy([[/value/i, "value"], [/name/i, "name"]]));
  main.append(pageHead("Secrets", "Passwords and tokens for scripts. Only names are listed: values are write-only."),
    h("section", { class: "card" }, h("div", { class: "card-head" }, heading), h("div", { class: "card-body" }, form)),
    card("Stored secrets", null, body));

  async function load() {
    const { secrets } = await api("GET", "/v1/secrets");
    if (!ctx.alive()) return;
    clear(body, table([
      { label: "Name", primary: true, cell: (n) => h("span", { class: "cell-main mono" }, n) },
      { label: "Value", cell: () => h("span", { class: "faint", "aria-label": "hidden" }, "hidden") },
      { label: "Actions", class: "actions-cell", cell: (n) => h("div", { class: "actions" },
        button("Replace value", { small: true, aria: `Replace the value of ${n}`, onclick: () => {
          form.elements.name.value = n;
          heading.textContent = `Replace the value of “${n}”`;
          form.elements.value.value = "";
          form.elements.value.focus();
        } }),
        button("Delete", { small: true, kind: "danger", aria: `Delete ${n}`, onclick: async () => {
          if (!(await confirmDialog({ title: `Delete the secret “${n}”?`, body: "Scripts that read it get an empty string from then on." }))) return;
          try {
            await api("DELETE", `/v1/secrets/${enc(n)}`);
            toast(`Secret “${n}” deleted`);
            await load();
          } catch (error) {
            toast(error.message, "error");
          }
        } })) },
    ], secrets, emptyState("No secrets yet", "Add one above; scripts read it with GetSecret.")));
  }
  await load();
}
