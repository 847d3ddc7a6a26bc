// The Settings page's Administrators card: who can sign in, adding one, changing your password.
import { api, enc, session } from "../api.js";
import { button, card, table, when } from "../blocks.js";
import { confirmDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { check } from "../errors.js";
import { field, makeForm, onSubmit } from "../forms.js";
import { icon } from "../icons.js";
import { accountProblems, passwordChangeProblems } from "../validate.js";

export async function accountsCard(ctx) {
  const body = h("div");
  const isYou = (a) => a.username.toLowerCase() === (session.username || "").toLowerCase();
  const addForm = makeForm(h("div", { class: "form-row" },
    field({ name: "username", label: "User name", autocomplete: "off" }),
    field({ name: "password", label: "Password", type: "password", autocomplete: "new-password", hint: "At least 10 characters." }),
    field({ name: "confirm", label: "Repeat the password", type: "password", autocomplete: "new-password" })),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn" }, icon("plus"), "Add administrator")));
  onSubmit(addForm, async (f) => {
    check(accountProblems({ username: f.username.value, password: f.password.value, confirm: f.confirm.value }));
    await api("POST", "/ui/accounts", { username: f.username.value.trim(), password: f.password.value, confirm: f.confirm.value });
    addForm.reset();
    toast("Administrator added");
    await load();
  });
  const pwForm = makeForm(h("div", { class: "form-row" },
    field({ name: "current", label: "Current password", type: "password", autocomplete: "current-password" }),
    field({ name: "password", label: "New password", type: "password", autocomplete: "new-password", hint: "At least 10 characters." }),
    field({ name: "confirm", label: "Repeat the new password", type: "password", autocomplete: "new-password" })),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn" }, "Change my password")));
  onSubmit(pwForm, async (f) => {
    check(passwordChangeProblems({ current: f.current.value, password: f.password.value, confirm: f.confirm.value }));
    const answer = await api("PUT", "/ui/password", { current: f.current.value, password: f.password.value, confirm: f.confirm.value });
    session.csrf = answer.csrf;
    pwForm.reset();
    toast("Password changed; other sessions were signed out");
  });

  async function load() {
    const { accounts } = await api("GET", "/ui/accounts");
    if (!ctx.alive()) return;
    clear(body, table([
      { label: "User", primary: true, cell: (a) => h("span", { class: "cell-main" }, a.username, isYou(a) ? h("span", { class: "faint" }, " (you)") : null) },
      { label: "Last sign-in", cell: (a) => when(a.lastLogin) },
      { label: "Created", cell: (a) => when(a.created) },
      { label: "Actions", class: "actions-cell", cell: (a) => isYou(a) ? h("span", { class: "faint" }, "—") :
        button("Remove", { small: true, kind: "danger", aria: `Remove ${a.username}`, onclick: async () => {
          if (!(await confirmDialog({ title: `Remove ${a.username}?`, body: "They can no longer sign in; their sessions end now.", confirm: "Remove" }))) return;
          try {
            await api("DELETE", `/ui/accounts/${enc(a.username)}`);
            toast(`${a.username} removed`);
            await load();
          } catch (error) { toast(error.message, "error"); }
        } }) },
    ], accounts, "No administrators"));
  }
  await load();
  return card("Administrators", "Who can sign in to this console. aft reinit removes them all and brings the setup wizard back.",
    [body, h("div", { class: "card-body" }, h("h3", { text: "Add an administrator" }), addForm),
      h("div", { class: "card-body" }, h("h3", { text: "Your password" }), pwForm)]);
}
