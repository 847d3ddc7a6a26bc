// Signing in: the setup wizard, the sign-in form, entering the console and signing out.
import { api, session } from "./api.js";
import { toast } from "./dialogs.js";
import { clear, h } from "./dom.js";
import { check } from "./errors.js";
import { field, makeForm, onSubmit } from "./forms.js";
import { route, stopPage } from "./router.js";
import { buildShell } from "./shell.js";
import { accountProblems, loginProblems } from "./validate.js";

// A card in place of the console (which hides): the wizard, the sign-in form or a failure.
function authCard(title, lead, ...body) {
  const auth = document.getElementById("auth");
  document.getElementById("shell").hidden = true;
  auth.hidden = false;
  clear(auth, h("main", { class: "auth-card" },
    h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), h("span", null, "aft")),
    h("h1", { text: title }), h("p", { class: "lead" }, lead), body,
    h("p", { class: "auth-foot" }, `aft ${session.version || ""}`.trim())));
  const first = auth.querySelector("input");
  if (first) first.focus();
}

function showSetup(state) {
  const form = makeForm(
    state.setupCode ? field({ name: "code", label: "Setup code", autocomplete: "one-time-code", mono: true,
      hint: "You are not on the machine that runs aft. The code is in the file ui-setup-code in the instance home there." }) : null,
    field({ name: "username", label: "User name", autocomplete: "username", value: "admin", hint: "Letters, digits and . _ @ -" }),
    field({ name: "password", label: "Password", type: "password", autocomplete: "new-password", hint: "At least 10 characters. A few unrelated words make a good one." }),
    field({ name: "confirm", label: "Repeat the password", type: "password", autocomplete: "new-password" }),
    h("button", { type: "submit", class: "btn primary" }, "Create administrator and sign in"));
  onSubmit(form, async (f) => {
    check(accountProblems({
      username: f.username.value, password: f.password.value, confirm: f.confirm.value,
      code: state.setupCode ? f.code.value : "",
    }, state.setupCode));
    const answer = await api("POST", "/ui/setup", {
      username: f.username.value.trim(), password: f.password.value, confirm: f.confirm.value,
      code: state.setupCode ? f.code.value.trim() : undefined,
    });
    enter(answer);
    toast("Welcome! Your administrator account is ready.");
  });
  authCard("Set up aft", "Create the first administrator of this instance. You sign in to the console with this account.", form);
}

function showLogin(notice) {
  const form = makeForm(
    notice ? h("div", { class: "notice info" }, notice) : null,
    field({ name: "username", label: "User name", autocomplete: "username" }),
    field({ name: "password", label: "Password", type: "password", autocomplete: "current-password" }),
    h("button", { type: "submit", class: "btn primary" }, "Sign in"));
  onSubmit(form, async (f) => {
    check(loginProblems({ username: f.username.value, password: f.password.value }));
    try {
      enter(await api("POST", "/ui/login", { username: f.username.value.trim(), password: f.password.value }));
    } catch (error) {
      f.password.value = "";
      if (error.status === 429) error.field = null;  // about the address, not the field
      throw error;
    }
  });
  authCard("Sign in", "The administration console of aft.", form);
}

// Shows the console for a signed-in session ({ csrf, username, version }).
function enter(state) {
  session.csrf = state.csrf;
  session.username = state.username;
  session.role = state.role;
  session.grants = state.grants || [];
  session.version = state.version || session.version;
  document.getElementById("auth").hidden = true;
  clear(document.getElementById("auth"));
  document.getElementById("shell").hidden = false;
  document.getElementById("who").textContent = state.username;
  document.getElementById("who-role").textContent = state.role;
  document.getElementById("top-role").textContent = `${state.username} · ${state.role}`;
  buildShell(signOut);
  route();
}

// The service no longer knows the session: back to the sign-in form.
export function sessionLost() {
  if (!session.csrf) return;
  session.csrf = null;
  stopPage();
  showLogin("Your session has ended. Sign in again to go on.");
}

async function signOut() {
  try {
    await api("POST", "/ui/logout");
  } catch (e) { /* signed out either way */ }
  session.csrf = null;
  stopPage();
  history.replaceState(null, "", location.pathname);  // the next one starts on the dashboard
  showLogin("You have signed out.");
}

// Asks the service where the page stands: the wizard, the sign-in form or the console.
export async function boot() {
  let state;
  try {
    state = await api("GET", "/ui/session");
  } catch (error) {
    authCard("aft is unreachable", error.message);
    return;
  }
  session.version = state.version || "";
  if (state.state === "ready") enter(state);
  else if (state.state === "setup") showSetup(state);
  else showLogin();
}
