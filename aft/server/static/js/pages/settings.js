// The Settings page: the instance settings in cards by topic, then the administrators.
import { api, enc } from "../api.js";
import { card, pageHead } from "../blocks.js";
import { toast } from "../dialogs.js";
import { h } from "../dom.js";
import { check } from "../errors.js";
import { capitalize } from "../format.js";
import { field, lockUnless, makeForm, onSubmit } from "../forms.js";
import { changedSettings, settingFieldOptions, settingGroups, settingLabel } from "../settings-layout.js";
import { accountsCard } from "./accounts.js";

export async function settingsPage(main, parts, query, ctx) {
  const [{ settings }, about] = await Promise.all([api("GET", "/v1/settings"), api("GET", "/ui/about").catch(() => null)]);
  if (!ctx.alive()) return;
  main.append(pageHead("Settings", "Instance settings. The same ones are in aft settings on the command line."));
  const grid = h("div", { class: "grid-2" });
  for (const [title, sub, present] of settingGroups(settings)) {
    let content;
    if (!present.length) {
      content = h("div", { class: "card-body" }, h("p", { class: "muted" },
        title.startsWith("Email") ? "This version of aft has no SMTP settings yet; they appear here once it has them." : "Nothing to set."));
    } else {
      content = h("div", { class: "card-body" }, settingsForm(present, settings, title.startsWith("Network") ? about : null));
    }
    grid.append(card(title, sub, content));
  }
  main.append(grid, await accountsCard(ctx));
}

// The form of some settings; `about` (GET /ui/about) adds the certificate's fingerprint.
function settingsForm(keys, settings, about) {
  const fields = keys.map((key) => field(settingFieldOptions(key, settings[key])));
  const form = makeForm(fields,
    about && about.certificateSha256 ? h("div", { class: "notice" }, h("strong", null, "Certificate SHA-256: "),
      h("span", { class: "mono fingerprint" }, about.certificateSha256), h("br"),
      "To use your own certificate, replace ", h("code", null, about.certificateFiles[0]), " and ", h("code", null, about.certificateFiles[1]),
      " in the instance home and restart aft serve.") : null,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Save")));
  lockUnless(form, "admin");
  onSubmit(form, async (f) => {
    const changed = changedSettings(keys, f, settings);
    if (!changed.length) {
      toast("Nothing changed");
      return;
    }
    const problems = {};
    for (const [key, value] of changed) {
      try {
        const answer = await api("PUT", `/v1/settings/${enc(key)}`, { value });
        settings[key] = answer.value;
      } catch (error) {
        problems[key] = capitalize(error.message);
      }
    }
    check(problems);
    toast(changed.length === 1 ? `${settingLabel(changed[0][0])} saved` : `${changed.length} settings saved`);
  });
  return form;
}
