// The Notifications section of a script's editor and a schedule's form: its rules, a form to
// add one (email or a webhook whose URL and headers come from secrets), "Send a test", delete.
import { api, enc } from "./api.js";
import { button, card, emptyState, loading, table } from "./blocks.js";
import { confirmDialog, toast } from "./dialogs.js";
import { clear, h } from "./dom.js";
import { guessBy } from "./errors.js";
import { fmtTime } from "./format.js";
import { field, makeForm, onSubmit } from "./forms.js";

export const EVENTS = [["failure", "Fails"], ["success", "Succeeds"], ["long", "Runs longer than…"]];

// What POST /v1/notifications takes of the form's values; target is { script } or { schedule }.
export function notificationBody(target, v) {
  const body = { name: v.name.trim(), ...target, events: EVENTS.map(([e]) => e).filter((e) => v.events.includes(e)), channel: v.channel };
  if (v.events.includes("long")) body.minutes = v.minutes === "" ? null : Number(v.minutes);
  if (v.channel === "email") body.recipients = v.recipients.trim();
  else {
    body.urlSecret = v.urlSecret;
    if (v.headersSecret) body.headersSecret = v.headersSecret;
  }
  return body;
}

// A one-line description of a rule's channel and its last delivery.
export function describe(n) {
  const to = n.channel === "email" ? `email to ${n.recipients}` : `webhook (URL in secret ${n.urlSecret}${n.headersSecret ? `, headers in ${n.headersSecret}` : ""})`;
  const last = n.lastSent ? `${fmtTime(n.lastSent)}: ${n.lastResult}` : "never sent";
  return { to, last };
}

const guess = guessBy([[/minutes|long/i, "minutes"], [/event/i, "events"], [/recipient|address/i, "recipients"],
  [/url-secret|url/i, "urlSecret"], [/headers/i, "headersSecret"], [/smtp|channel/i, "channel"], [/name/i, "name"]]);

// The section for the script (target { script: NAME }) or schedule (target { schedule: NAME }).
export function notificationsSection(target, ctx) {
  const list = h("div", null, loading());
  const formBox = h("div");
  const which = target.script !== undefined ? "script" : "schedule";
  const query = `${which}=${enc(target[which])}`;

  async function load() {
    let rules;
    try {
      rules = (await api("GET", `/v1/notifications?${query}`)).notifications;
    } catch (error) {
      clear(list, h("div", { class: "form-error", role: "alert" }, error.message));
      return;
    }
    if (ctx && !ctx.alive()) return;
    clear(list, table([
      { label: "Name", primary: true, cell: (n) => h("span", { class: "cell-main" }, n.name) },
      { label: "When", cell: (n) => n.events.map((e) => (e === "long" ? `runs > ${n.minutes} min` : e)).join(", ") },
      { label: "Sends", cell: (n) => describe(n).to },
      { label: "Last delivery", cell: (n) => h("span", { class: "notify-last" }, describe(n).last) },
      { label: "Actions", class: "actions-cell", cell: (n) => h("div", { class: "actions" },
        button("Send a test", { small: true, aria: `Send a test of ${n.name}`, onclick: async (event) => {
          const b = event.currentTarget;
          b.disabled = true;
          try {
            const answer = await api("POST", `/v1/notifications/${enc(n.id)}/test`);
            toast(answer.ok ? `Test of “${n.name}” sent` : `Test of “${n.name}” failed: ${answer.result}`, answer.ok ? "" : "error");
          } catch (error) { toast(error.message, "error"); }
          b.disabled = false;
          await load();
        } }),
        button("Delete", { small: true, kind: "danger", aria: `Delete ${n.name}`, onclick: async () => {
          if (!(await confirmDialog({ title: `Delete the notification “${n.name}”?`, body: "It sends nothing more." }))) return;
          try {
            await api("DELETE", `/v1/notifications/${enc(n.id)}`);
            toast("Notification deleted");
            await load();
          } catch (error) { toast(error.message, "error"); }
        } })) },
    ], rules, emptyState("No notifications", `Add one to hear when this ${which}'s jobs fail, succeed or run long.`)));
  }

  async function openForm() {
    let secrets = [];
    try {
      secrets = (await api("GET", "/v1/secrets")).secrets;
    } catch (e) { secrets = []; }
    const events = h("fieldset", { class: "field", "data-field": "events" }, h("legend", null, "Notify when a job"),
      EVENTS.map(([value, label]) => field({ name: `event-${value}`, label, type: "checkbox", value: value === "failure" })));
    const minutes = field({ name: "minutes", label: "Minutes", type: "number", min: 0, optional: true, hint: "For “runs longer than”: reported once, while it still runs." });
    const channel = field({ name: "channel", label: "Send", type: "select", value: "email", options: [["email", "Email (the SMTP settings)"], ["webhook", "Webhook (JSON POST)"]] });
    const recipients = field({ name: "recipients", label: "To", placeholder: "ops@example.com, me@example.com", hint: "Addresses, separated by commas." });
    const secretOptions = [["", "—"], ...secrets.map((s) => [s, s])];
    const urlSecret = field({ name: "urlSecret", label: "URL secret", type: "select", options: secretOptions, hint: "The secret holding the http(s) URL." });
    const headersSecret = field({ name: "headersSecret", label: "Headers secret", type: "select", options: secretOptions, optional: true, hint: "A secret holding a JSON object of headers." });
    const form = makeForm(
      field({ name: "name", label: "Name", hint: "Unique, any case." }),
      events, minutes, channel, recipients,
      h("div", { class: "form-row" }, urlSecret, headersSecret),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Add notification"),
        button("Cancel", { kind: "ghost", onclick: () => clear(formBox) })));
    const shown = () => {
      const hook = form.elements.channel.value === "webhook";
      recipients.hidden = hook;
      urlSecret.parentElement.hidden = !hook;
      minutes.hidden = !form.elements["event-long"].checked;
    };
    form.addEventListener("change", shown);
    shown();
    onSubmit(form, async (f) => {
      const values = {
        name: f.name.value, events: EVENTS.map(([e]) => e).filter((e) => f[`event-${e}`].checked), minutes: f.minutes.value,
        channel: f.channel.value, recipients: f.recipients.value, urlSecret: f.urlSecret.value, headersSecret: f.headersSecret.value,
      };
      await api("POST", "/v1/notifications", notificationBody(target, values));
      clear(formBox);
      toast("Notification added");
      await load();
    }, guess);
    clear(formBox, h("div", { class: "card-body" }, form));
    form.elements.name.focus();
  }

  const section = card("Notifications", `Email or a webhook when this ${which}'s jobs fail, succeed or run long.`,
    h("div", null, formBox, list), button("Add notification", { icon: "plus", onclick: openForm }));
  section.classList.add("notifications");
  load();
  return section;
}
