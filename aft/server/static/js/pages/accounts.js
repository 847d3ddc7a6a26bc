// The Settings page's Accounts card: who can sign in with which role, adding one, setting roles,
// changing your password.
import { api, can, enc, session, whyNot } from "../api.js";
import { button, card, table, when } from "../blocks.js";
import { confirmDialog, toast } from "../dialogs.js";
import { clear, h } from "../dom.js";
import { check } from "../errors.js";
import { field, lockUnless, makeForm, onSubmit } from "../forms.js";
import { icon } from "../icons.js";
import { accountProblems, passwordChangeProblems } from "../validate.js";

const ROLES = [["viewer", "viewer"], ["operator", "operator"], ["admin", "admin"]];

export async function accountsCard(ctx) {
  const body = h("div");
  const isYou = (a) => a.username.toLowerCase() === (session.username || "").toLowerCase();
  const addForm = makeForm(h("div", { class: "form-row" },
    field({ name: "username", label: "User name", autocomplete: "off" }),
    field({ name: "password", label: "Password", type: "password", autocomplete: "new-password", hint: "At least 10 characters." }),
    field({ name: "confirm", label: "Repeat the password", type: "password", autocomplete: "new-password" }),
    field({ name: "role", label: "Role", type: "select", value: "viewer", options: ROLES, hint: "What the account may do; an admin can change it later." })),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn" }, icon("plus"), "Add account")));
  lockUnless(addForm, "admin");
  onSubmit(addForm, async (f) => {
    check(accountProblems({ username: f.username.value, password: f.password.value, confirm: f.confirm.value }));
    await api("POST", "/ui/accounts", { username: f.username.value.trim(), password: f.password.value, confirm: f.confirm.value, role: f.role.value });
    addForm.reset();
    toast("Account added");
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
      { label: "Role", cell: (a) => roleCell(a) },
      { label: "Last sign-in", cell: (a) => when(a.lastLogin) },
      { label: "Created", cell: (a) => when(a.created) },
      { label: "Actions", class: "actions-cell", cell: (a) => isYou(a) ? h("span", { class: "faint" }, "—") :
        button("Remove", { small: true, kind: "danger", need: "admin", aria: `Remove ${a.username}`, onclick: async () => {
          if (!(await confirmDialog({ title: `Remove ${a.username}?`, body: "They can no longer sign in; their sessions end now.", confirm: "Remove" }))) return;
          try {
            await api("DELETE", `/ui/accounts/${enc(a.username)}`);
            toast(`${a.username} removed`);
            await load();
          } catch (error) { toast(error.message, "error"); }
        } }) },
    ], accounts, "No accounts"));
  }

  // An admin picks the role from a list (the service keeps the last admin); others read it.
  function roleCell(a) {
    const label = `Role of ${a.username}`;
    const select = h("select", { "aria-label": label, class: "role-select", disabled: !can("admin"), title: can("admin") ? label : whyNot("admin") },
      ROLES.map(([value, text]) => h("option", { value, selected: a.role === value }, text)));
    select.onchange = async () => {
      try {
        await api("PUT", `/ui/accounts/${enc(a.username)}/role`, { role: select.value });
        toast(`${a.username} is now ${select.value === "admin" ? "an" : "a"} ${select.value}`);
      } catch (error) {
        toast(error.message, "error");
      }
      await load();
    };
    return select;
  }
  await load();
  return card("Accounts", "Who can sign in to this console, and their roles: a viewer reads everything (never a secret's value), an operator also runs and halts jobs, an admin does everything. aft reinit removes them all and brings the setup wizard back.",
    [body, h("div", { class: "card-body" }, h("h3", { text: "Add an account" }), addForm),
      h("div", { class: "card-body" }, h("h3", { text: "Your password" }), pwForm)]);
}
