// The Settings page's layout (pure): settings' labels, controls and groups, and what a form changes.
import { check } from "./errors.js";

const SETTING_TEXT = {
  allow_cli_run: ["Allow CLI Run", "Let aft run -f FILE execute script files on this machine."],
  allow_exec: ["Allow Exec", "Let scripts start local programs with Exec()."],
  allow_file_path: ["Allow file paths in the API", "Let POST /v1/jobs run a script file from the server's disk."],
  concurrency: ["Concurrent jobs", "How many jobs run at once (1 to 64)."],
  halt_grace_seconds: ["Halt grace period (seconds)", "Time a halted job gets to stop before its process is killed."],
  job_memory_mb: ["Memory per job (MB)", "Memory limit of each job's process; 0 for none."],
  bind: ["Bind address", "The address aft serve listens on: 127.0.0.1 for this machine only, 0.0.0.0 for every interface."],
  port: ["Port", "The port aft serve listens on (1 to 65535)."],
  tls: ["HTTPS", "Serve HTTPS with the instance certificate. Turn off only behind a proxy that does TLS."],
  smtp_host: ["SMTP server", "Host name of the server SendMail() uses. Empty: mail is off."],
  smtp_port: ["SMTP port", "Usually 587 for STARTTLS, 465 for TLS."],
  smtp_tls: ["Encryption", "STARTTLS upgrades a plain connection (port 587); TLS encrypts from the start (port 465)."],
  smtp_user: ["SMTP user", "The login name. Empty: send without logging in."],
  smtp_password_secret: ["Password secret", "The name of the secret (on the Secrets page) that holds the SMTP password."],
  smtp_from: ["Default sender", "The From address when a script gives none."],
  smtp_cafile: ["CA file", "A PEM file of certificates to trust, for a server with a private or self-signed certificate. Empty: the system's."],
};
const SETTING_CHOICES = { smtp_tls: [["starttls", "STARTTLS"], ["tls", "TLS"], ["none", "None (plain text)"]] };
const SMTP_ORDER = ["smtp_host", "smtp_port", "smtp_tls", "smtp_user", "smtp_password_secret", "smtp_from", "smtp_cafile"];
const GROUPS = [
  ["Running scripts", "Who may run what, and how much at once.", ["allow_cli_run", "allow_exec", "allow_file_path", "concurrency", "halt_grace_seconds", "job_memory_mb"]],
  ["Network and TLS", "Changes here take effect when aft serve restarts.", ["bind", "port", "tls"]],
];
const SECRETISH = /pass|secret|token|key$/i;
const SECRET_NAME = /_secret$/; // holds the name of a secret, not the secret itself

export function settingLabel(key) {
  return SETTING_TEXT[key] ? SETTING_TEXT[key][0] : key.replace(/^smtp_/, "SMTP ").replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

// The cards of the page: [title, subtitle, keys of settings there], SMTP ones in their order,
// settings no group names under "Other".
export function settingGroups(settings) {
  const keys = Object.keys(settings);
  const taken = new Set(GROUPS.flatMap((g) => g[2]));
  const rank = (k) => (SMTP_ORDER.indexOf(k) + 1) || SMTP_ORDER.length + 1;
  const smtp = keys.filter((k) => k.startsWith("smtp_")).sort((a, b) => rank(a) - rank(b));
  const other = keys.filter((k) => !taken.has(k) && !k.startsWith("smtp_"));
  const groups = [...GROUPS, ["Email (SMTP)", "How aft sends mail.", smtp], ...(other.length ? [["Other", null, other]] : [])];
  return groups.map(([title, sub, groupKeys]) => [title, sub, groupKeys.filter((k) => k in settings)]);
}

// The options of field() (forms.js) for a setting and its value.
export function settingFieldOptions(key, value) {
  const [text, hint] = SETTING_TEXT[key] || [settingLabel(key), null];
  if (typeof value === "boolean") return { name: key, label: text, type: "checkbox", value, hint };
  if (typeof value === "number") return { name: key, label: text, type: "number", value, hint, inputmode: "numeric" };
  if (SETTING_CHOICES[key]) return { name: key, label: text, type: "select", value, hint, options: SETTING_CHOICES[key] };
  if (SECRET_NAME.test(key)) return { name: key, label: text, value, hint, mono: true, placeholder: "secret name" };
  if (SECRETISH.test(key)) return { name: key, label: text, type: "password", value: "", placeholder: "unchanged", hint: hint || "Write-only.", autocomplete: "new-password" };
  return { name: key, label: text, value, hint };
}

// The [key, value] pairs the form's controls (elements[key]) change; a password left empty
// is unchanged. FieldErrors for a number left empty.
export function changedSettings(keys, elements, settings) {
  const changed = [];
  for (const key of keys) {
    const el = elements[key];
    const now = el.type === "checkbox" ? el.checked : el.type === "number" ? (el.value === "" ? null : Number(el.value)) : el.value;
    if (el.type === "password" && !now) continue;
    if (now === null) check({ [key]: "Enter a number" });
    if (now !== settings[key]) changed.push([key, now]);
  }
  return changed;
}
