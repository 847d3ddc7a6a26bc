// The Settings page's layout (settings-layout.js).
import assert from "node:assert/strict";
import test from "node:test";

import { FieldErrors } from "../../aft/server/static/js/errors.js";
import { changedSettings, settingFieldOptions, settingGroups, settingLabel } from "../../aft/server/static/js/settings-layout.js";

test("a setting's label: its own text, else made from its key", () => {
  assert.equal(settingLabel("concurrency"), "Concurrent jobs");
  assert.equal(settingLabel("smtp_reply_to"), "SMTP reply to");
  assert.equal(settingLabel("log_retention_days"), "Log retention days");
});

test("settings fall into their cards; SMTP in its order; the rest under Other", () => {
  const settings = { concurrency: 4, smtp_from: "", smtp_host: "", tls: true, port: 8443, smtp_zeta: "", log_days: 30, bind: "127.0.0.1" };
  assert.deepEqual(settingGroups(settings), [
    ["Running scripts", "Who may run what, and how much at once.", ["concurrency"]],
    ["Network and TLS", "Changes here take effect when aft serve restarts.", ["bind", "port", "tls"]],
    ["Email (SMTP)", "How aft sends mail.", ["smtp_host", "smtp_from", "smtp_zeta"]],
    ["Other", null, ["log_days"]],
  ]);
});

test("without SMTP settings the Email card is empty, and there is no Other card", () => {
  const groups = settingGroups({ concurrency: 4 });
  assert.deepEqual(groups.map(([title, , keys]) => [title, keys]), [
    ["Running scripts", ["concurrency"]], ["Network and TLS", []], ["Email (SMTP)", []],
  ]);
});

test("each setting gets the control its value and name call for", () => {
  assert.equal(settingFieldOptions("tls", true).type, "checkbox");
  assert.deepEqual(settingFieldOptions("port", 8443), {
    name: "port", label: "Port", type: "number", value: 8443, hint: "The port aft serve listens on (1 to 65535).", inputmode: "numeric",
  });
  assert.deepEqual(settingFieldOptions("smtp_tls", "tls").options.map(([value]) => value), ["starttls", "tls", "none"]);
  const secretName = settingFieldOptions("smtp_password_secret", "smtp");
  assert.equal(secretName.type, undefined);
  assert.equal(secretName.value, "smtp");
  assert.equal(secretName.placeholder, "secret name");
  const token = settingFieldOptions("webhook_token", "t0k3n");
  assert.equal(token.type, "password");
  assert.equal(token.value, "");  // never shown
  assert.equal(token.hint, "Write-only.");
  assert.deepEqual(settingFieldOptions("bind", "0.0.0.0").type, undefined);
});

test("the changes of a form: an empty password is no change, an empty number a problem", () => {
  const settings = { tls: true, port: 8443, bind: "127.0.0.1", webhook_token: "" };
  const elements = {
    tls: { type: "checkbox", checked: false },
    port: { type: "number", value: "8443" },
    bind: { type: "text", value: "0.0.0.0" },
    webhook_token: { type: "password", value: "" },
  };
  const keys = Object.keys(settings);
  assert.deepEqual(changedSettings(keys, elements, settings), [["tls", false], ["bind", "0.0.0.0"]]);
  assert.deepEqual(changedSettings(keys, { ...elements, webhook_token: { type: "password", value: "new" } }, settings)
    .map(([key]) => key), ["tls", "bind", "webhook_token"]);
  assert.throws(() => changedSettings(keys, { ...elements, port: { type: "number", value: "" } }, settings),
    (error) => error instanceof FieldErrors && error.problems.port === "Enter a number");
});
