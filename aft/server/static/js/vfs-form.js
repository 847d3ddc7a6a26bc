// The VFS form's logic (pure), from a type's schema (GET /v1/vfs/types): it knows no backend.
import { check, guessBy } from "./errors.js";

const MONO_KINDS = new Set(["path", "prefix", "multiline", "json"]);

// The options of field() (forms.js) for a field of a schema (its target's or its payload's).
export function vfsFieldOptions(f, value, extra) {
  const opts = {
    name: f.name, label: f.label, hint: f.help, placeholder: f.placeholder || null, value,
    optional: !f.required && f.kind !== "flag", mono: MONO_KINDS.has(f.kind), ...extra,
  };
  if (f.kind === "choice") Object.assign(opts, { type: "select", options: f.choices });
  else if (f.kind === "flag") Object.assign(opts, { type: "checkbox", value: value === "true" });
  else if (f.kind === "multiline" || f.kind === "json") Object.assign(opts, { type: "textarea", rows: 4 });
  else if (f.secret) Object.assign(opts, { type: "password", autocomplete: "new-password" });
  else if (f.kind === "port" || f.kind === "number") opts.inputmode = "numeric";
  return opts;
}

// What a target field starts with: the profile's own value, else the schema's initial one.
export function startValue(f, profile, type) {
  const seed = profile && type === profile.type && profile.fields ? profile.fields : {};
  return seed[f.name] ?? f.initial;
}

// The fields a form shows at once, and those seldom needed ("More options").
export function splitAdvanced(fields) {
  return { basic: fields.filter((f) => !f.advanced), more: fields.filter((f) => f.advanced) };
}

// The form's values of fields, all strings ("true" or "false" for a checkbox, "" for a field
// not on the form); elementOf(name) gives a control.
export function formValues(fields, elementOf) {
  const values = {};
  for (const f of fields) {
    const el = elementOf(f.name);
    values[f.name] = !el ? "" : el.type === "checkbox" ? String(el.checked) : el.value;
  }
  return values;
}

// The values filled in (credentials left empty are not sent).
export function filledIn(values) {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value));
}

// The target from the service's answer to POST /v1/vfs/types/{type}/target, when neither it
// nor the form's own problems say anything is wrong; else FieldErrors, each on its field.
export function acceptedTarget(answer, problems) {
  check({ ...problems, ...answer.errors });
  return answer.target;
}

// The problems of errors (from POST /v1/vfs/types/{type}/target) about where the server is
// (its host and port fields): what must be right before its host key can be fetched.
export function addressProblems(spec, errors) {
  const where = spec.target.filter((f) => (f.part === "host" || f.part === "port") && errors[f.name]);
  return Object.fromEntries(where.map((f) => [f.name, errors[f.name]]));
}

// The call [method, path, body] that tests the form's profile: a saved profile without new
// credentials tests with its stored ones (its changed target, if changed beyond how its
// fields are written); new credentials, and a type that has none (credentials false), are
// tested as typed.
export function testCall({ profile, type, target, fields, payload, credentials = true }) {
  if (profile && credentials && !Object.keys(payload).length) {
    const saved = target === profile.target || JSON.stringify(fields) === JSON.stringify(profile.fields);
    return ["POST", `/v1/vfs/${encodeURIComponent(profile.name)}/test`, saved ? undefined : { target }];
  }
  return ["POST", "/v1/vfs/test", { type, target, payload }];
}

// The call [method, path, body] that saves the form: a profile keeps its stored credentials
// unless new ones are typed.
export function saveCall({ profile, name, type, target, payload }) {
  if (profile) {
    const body = { type, target };
    if (Object.keys(payload).length) body.payload = payload;
    return ["PUT", `/v1/vfs/${encodeURIComponent(profile.name)}`, body];
  }
  return ["POST", "/v1/vfs", { name: name.trim(), type, target, payload }];
}

// Which field a message of the service is about: first a field whose schema says so (its
// `about` pattern), then the form's parts; null for the form's top.
const guessPart = guessBy([
  [/payload|credential|secret/i, "_payload"], [/name/i, "name"],
  [/type/i, "type"], [/target|path|looks like|port|host|connect/i, "_target"],
]);

export function guessVfsField(spec, message) {
  const about = [...spec.target, ...spec.payload].find((f) => f.about && new RegExp(f.about, "i").test(message));
  return about ? about.name : guessPart(message);
}
