// The API Keys page: keys for the REST API and aft start, each limited to its addresses.
import { api, enc } from "../api.js";
import { badge, button, card, emptyState, loading, pageHead, table, when } from "../blocks.js";
import { confirmDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { check, guessBy } from "../errors.js";
import { field, lockUnless, makeForm, onSubmit } from "../forms.js";
import { icon } from "../icons.js";
import { apiKeyProblems, parseAllowList } from "../validate.js";

export async function apiKeysPage(main, parts, query, ctx) {
  const once = h("div");
  const body = h("div", null, loading());
  const scope = h("div", { class: "field", "data-field": "scope" }, h("span", { class: "label", id: "scope-label" }, "Scope"),
    h("div", { class: "segmented", role: "radiogroup", "aria-labelledby": "scope-label" },
      h("label", null, h("input", { type: "radio", name: "scope", value: "viewer" }), "viewer: read everything"),
      h("label", null, h("input", { type: "radio", name: "scope", value: "run", checked: true }), "run: start jobs, read their own"),
      h("label", null, h("input", { type: "radio", name: "scope", value: "operator" }), "operator: read, start and halt jobs"),
      h("label", null, h("input", { type: "radio", name: "scope", value: "admin" }), "admin: everything")));
  const form = makeForm(
    h("div", { class: "form-row" },
      field({ name: "name", label: "Name", placeholder: "ci-server", hint: "Who or what uses it." }),
      field({ name: "allow", label: "Allowed addresses", value: "127.0.0.1, ::1", mono: true,
        hint: "IP addresses or CIDR ranges (IPv4 or IPv6), separated by commas. Requests from elsewhere are refused." })),
    scope,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, icon("plus"), "Create key")));
  lockUnless(form, "admin");
  onSubmit(form, async (f) => {
    const allow = parseAllowList(f.allow.value);
    check(apiKeyProblems({ name: f.name.value, allow }));
    const made = await api("POST", "/v1/apikeys", { name: f.name.value.trim(), allow, scope: f.scope.value });
    form.reset();
    showOnce(made);
    await load();
  }, guessBy([[/allow|address|CIDR/i, "allow"], [/scope/i, "scope"], [/name/i, "name"]]));

  // The new key, shown this once, with a button that copies it.
  function showOnce(made) {
    const keyInput = h("input", { type: "text", readOnly: true, value: made.key, id: "new-key", class: "mono", "aria-describedby": "new-key-hint" });
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(made.key);
      } catch (e) {
        keyInput.select();
        document.execCommand("copy");
      }
      toast("Key copied to the clipboard");
    };
    clear(once, h("section", { class: "secret-once", role: "status" },
      h("h2", { text: `Your new key “${made.name}”` }),
      h("p", { id: "new-key-hint" }, "Copy it now: it is shown this once. aft keeps only a hash of it."),
      h("div", { class: "field" }, h("label", { htmlFor: "new-key" }, "New API key"),
        h("div", { class: "input-group" }, keyInput, button("Copy", { icon: "copy", kind: "primary", onclick: copy }))),
      h("p", { class: "hint" }, `Use it with: aft start -n SCRIPT -a KEY --host ${location.host}`),
      h("div", { class: "form-actions" }, button("Done, I stored it", { onclick: () => clear(once) }))));
    keyInput.focus();
    keyInput.select();
  }

  main.append(pageHead("API Keys", "Keys for the REST API and aft start. Each works only from its allowed addresses."),
    once, card("Create a key", null, h("div", { class: "card-body" }, form)), card("Keys", null, body));
  ctx.guard = () => (once.firstChild ? "The new key is still on screen and will not be shown again. Leave anyway?" : null);

  async function load() {
    const { apiKeys } = await api("GET", "/v1/apikeys");
    if (!ctx.alive()) return;
    apiKeys.sort((a, b) => (a.revoked - b.revoked) || (b.created - a.created));
    clear(body, table([
      { label: "Name", primary: true, cell: (k) => h("div", null, h("span", { class: "cell-main" }, k.name), h("div", { class: "cell-sub mono" }, k.id)) },
      { label: "Scope", cell: (k) => k.revoked ? badge("revoked") : badge(k.scope) },
      { label: "Allowed from", cell: (k) => h("div", null, k.allow.map((a) => h("span", { class: "chip" }, a))) },
      { label: "Created", cell: (k) => when(k.created) },
      { label: "Last used", cell: (k) => when(k.lastUsed) },
      { label: "Actions", class: "actions-cell", cell: (k) => k.revoked ? h("span", { class: "faint" }, "—") :
        button("Revoke", { small: true, kind: "danger", need: "admin", aria: `Revoke ${k.name}`, onclick: async () => {
          if (!(await confirmDialog({ title: `Revoke “${k.name}”?`, body: "Requests with this key are refused from now on. This cannot be undone.", confirm: "Revoke" }))) return;
          try {
            await api("DELETE", `/v1/apikeys/${enc(k.id)}`);
            toast(`Key “${k.name}” revoked`);
            await load();
          } catch (error) {
            toast(error.message, "error");
          }
        } }) },
    ], apiKeys, emptyState("No keys yet", "Create one above to call the REST API or use aft start.")));
  }
  await load();
}
