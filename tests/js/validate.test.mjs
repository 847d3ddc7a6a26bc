// What the forms check before they ask the service (validate.js).
import assert from "node:assert/strict";
import test from "node:test";

import {
  accountProblems, apiKeyProblems, loginProblems, parseAllowList, passwordChangeProblems, passwordProblems,
  scheduleProblems, scriptProblems, secretProblems, vfsNameProblems,
} from "../../aft/server/static/js/validate.js";

const GOOD = "correct horse battery staple";

test("a password has 10 characters and is typed twice alike", () => {
  assert.deepEqual(passwordProblems(GOOD, GOOD), {});
  assert.deepEqual(passwordProblems("short", "short"), { password: "A password has at least 10 characters" });
  assert.deepEqual(passwordProblems(GOOD, "other"), { confirm: "The two passwords differ" });
});

test("a new administrator: the setup code first (when asked), then name and password", () => {
  const blank = { username: " ", password: "", confirm: "", code: "  " };
  assert.deepEqual(Object.keys(accountProblems(blank, true)), ["code", "username", "password"]);
  assert.deepEqual(Object.keys(accountProblems(blank)), ["username", "password"]);
  assert.deepEqual(accountProblems({ username: "admin", password: GOOD, confirm: GOOD, code: "c0de" }, true), {});
  assert.deepEqual(accountProblems({ username: "admin", password: GOOD, confirm: GOOD }), {});
});

test("signing in needs both fields; a password is never trimmed", () => {
  assert.deepEqual(loginProblems({ username: "", password: "" }), { username: "Enter your user name", password: "Enter your password" });
  assert.deepEqual(loginProblems({ username: "admin", password: " " }), {});
});

test("a password change asks for the current one", () => {
  assert.deepEqual(passwordChangeProblems({ current: "", password: GOOD, confirm: GOOD }), { current: "Enter your current password" });
  assert.deepEqual(passwordChangeProblems({ current: "old", password: GOOD, confirm: GOOD }), {});
});

test("a script: a name, 0 to 100 retries, 0 to 86400 seconds of backoff", () => {
  const script = { name: "Nightly", retries: "3", retryBackoff: "30", group: "" };
  assert.deepEqual(scriptProblems(script, false), {});
  assert.deepEqual(Object.keys(scriptProblems({ name: " ", retries: "", retryBackoff: "", group: "" }, false)), ["name", "retries", "retryBackoff"]);
  for (const retries of ["-1", "101", "1.5", "x"]) assert.ok(scriptProblems({ ...script, retries }, false).retries, retries);
  for (const retryBackoff of ["-1", "86401", "x"]) assert.ok(scriptProblems({ ...script, retryBackoff }, false).retryBackoff, retryBackoff);
  assert.deepEqual(scriptProblems({ ...script, retries: "100", retryBackoff: "0.5" }, false), {});
});

test("a script's worker group is checked on a cluster only", () => {
  const script = { name: "Nightly", retries: "0", retryBackoff: "30", group: "no spaces" };
  assert.deepEqual(scriptProblems(script, false), {});
  assert.match(scriptProblems(script, true).group, /1 to 64/);
  assert.deepEqual(scriptProblems({ ...script, group: " nas-1.b_2 " }, true), {});
  assert.ok(scriptProblems({ ...script, group: "x".repeat(65) }, true).group);
});

test("a secret: a name without / and a value", () => {
  assert.deepEqual(secretProblems({ name: " token ", value: " " }), {});
  assert.deepEqual(secretProblems({ name: "a/b", value: "" }), { name: "A secret name cannot hold /", value: "Enter the value" });
  assert.deepEqual(secretProblems({ name: "  ", value: "v" }), { name: "Enter a name" });
});

test("an API key's addresses are split on commas and spaces", () => {
  assert.deepEqual(parseAllowList("127.0.0.1, ::1  10.0.0.0/8,\n192.168.1.0/24,"), ["127.0.0.1", "::1", "10.0.0.0/8", "192.168.1.0/24"]);
  assert.deepEqual(parseAllowList(" , "), []);
});

test("an API key: a name and addresses or CIDR ranges", () => {
  assert.deepEqual(apiKeyProblems({ name: "ci", allow: ["127.0.0.1", "::1", "fd00::/8"] }), {});
  assert.deepEqual(apiKeyProblems({ name: "", allow: [] }), { name: "Enter a name", allow: "Give at least one address or CIDR range" });
  assert.equal(apiKeyProblems({ name: "ci", allow: ["127.0.0.1", "localhost"] }).allow, "“localhost” is not an IP address or CIDR range");
  assert.equal(apiKeyProblems({ name: "ci", allow: ["10.0.0.0/1234"] }).allow, "“10.0.0.0/1234” is not an IP address or CIDR range");
  assert.equal(apiKeyProblems({ name: "ci", allow: ["1234"] }).allow, "“1234” is not an IP address or CIDR range");
});

test("a schedule: a name, a script, five or six cron fields, a time zone", () => {
  const schedule = { name: "Every night", script: "Nightly", cron: "0 2 * * *", timezone: "Europe/Berlin" };
  assert.deepEqual(scheduleProblems(schedule), {});
  const shape = "A cron line has 5 fields (minute hour day month weekday), or 6 with seconds first";
  assert.deepEqual(scheduleProblems({ ...schedule, cron: " 0 2 * *  " }), { cron: `${shape}; this one has 4` });
  assert.deepEqual(scheduleProblems({ ...schedule, cron: "0 0 2 * * * *" }), { cron: `${shape}; this one has 7` });
  assert.deepEqual(scheduleProblems({ ...schedule, cron: "30 0 2 * * *" }), {});
  assert.deepEqual(scheduleProblems({ ...schedule, cron: "@daily" }), {});
  assert.deepEqual(Object.keys(scheduleProblems({ name: "", script: "", cron: "", timezone: " " })), ["name", "script", "cron", "timezone"]);
});

test("a VFS profile's name: given, without /", () => {
  assert.deepEqual(vfsNameProblems("Backups"), {});
  assert.deepEqual(vfsNameProblems(" "), { name: "Enter a name" });
  assert.deepEqual(vfsNameProblems("a/b"), { name: "A name cannot hold /" });
});
