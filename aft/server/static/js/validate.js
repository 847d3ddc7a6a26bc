// What each form checks before it asks the service; each gives { field: message } (pure).

// A new password and the same typed again.
export function passwordProblems(password, confirm) {
  if (password.length < 10) return { password: "A password has at least 10 characters" };
  if (confirm !== password) return { confirm: "The two passwords differ" };
  return {};
}

// A new administrator (with the setup code when the setup wizard asks for one).
export function accountProblems({ username, password, confirm, code }, needsCode = false) {
  const problems = {};
  if (needsCode && !code.trim()) problems.code = "Enter the setup code";
  if (!username.trim()) problems.username = "Enter a user name";
  return { ...problems, ...passwordProblems(password, confirm) };
}

export function loginProblems({ username, password }) {
  const problems = {};
  if (!username.trim()) problems.username = "Enter your user name";
  if (!password) problems.password = "Enter your password";
  return problems;
}

export function passwordChangeProblems({ current, password, confirm }) {
  const problems = {};
  if (!current) problems.current = "Enter your current password";
  return { ...problems, ...passwordProblems(password, confirm) };
}

// A script's settings as typed; a worker group only on a cluster.
export function scriptProblems({ name, retries, retryBackoff, group }, cluster) {
  const problems = {};
  const tries = Number(retries);
  const backoff = Number(retryBackoff);
  if (!name.trim()) problems.name = "Enter a name";
  if (retries === "" || !Number.isInteger(tries) || tries < 0 || tries > 100) problems.retries = "Retries is a whole number from 0 to 100";
  if (retryBackoff === "" || !(backoff >= 0 && backoff <= 86400)) problems.retryBackoff = "Backoff is 0 to 86400 seconds";
  if (cluster && !/^[A-Za-z0-9_.-]{1,64}$/.test(group.trim())) problems.group = "A group is 1 to 64 letters, digits, '_', '.' or '-'";
  return problems;
}

export function secretProblems({ name, value }) {
  const problems = {};
  if (!name.trim()) problems.name = "Enter a name";
  else if (name.trim().includes("/")) problems.name = "A secret name cannot hold /";
  if (!value) problems.value = "Enter the value";
  return problems;
}

// The addresses of an API key as typed: separated by commas or spaces.
export function parseAllowList(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

export function apiKeyProblems({ name, allow }) {
  const problems = {};
  if (!name.trim()) problems.name = "Enter a name";
  if (!allow.length) problems.allow = "Give at least one address or CIDR range";
  const bad = allow.find((a) => !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(a) || !/[.:]/.test(a));
  if (bad) problems.allow = `“${bad}” is not an IP address or CIDR range`;
  return problems;
}

export function scheduleProblems({ name, script, cron, timezone }) {
  const problems = {};
  if (!name.trim()) problems.name = "Enter a name";
  if (!script) problems.script = "Choose a script (store one on the Scripts page first)";
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (!(fields.length === 5 || fields.length === 6 || (fields.length === 1 && fields[0].startsWith("@")))) {
    problems.cron = `A cron line has 5 fields (minute hour day month weekday), or 6 with seconds first; this one has ${fields.length}`;
  }
  if (!timezone.trim()) problems.timezone = "Enter a time zone";
  return problems;
}

// The name of a new VFS profile.
export function vfsNameProblems(name) {
  const problems = {};
  if (!name.trim()) problems.name = "Enter a name";
  if (name.includes("/")) problems.name = "A name cannot hold /";
  return problems;
}
