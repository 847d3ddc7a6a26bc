// What the Notifications section sends and shows, without a page.
import assert from "node:assert/strict";
import test from "node:test";

import { describe, notificationBody } from "../../aft/server/static/js/notify-section.js";

const values = { name: " Ops ", events: ["long", "failure"], minutes: "30", channel: "email", recipients: " ops@example.com ", urlSecret: "", headersSecret: "" };

test("an email rule takes its recipients and, for long, its minutes", () => {
  assert.deepEqual(notificationBody({ script: "Nightly" }, values), {
    name: "Ops", script: "Nightly", events: ["failure", "long"], channel: "email", minutes: 30, recipients: "ops@example.com",
  });
});

test("a webhook rule takes its secrets only; minutes only with long", () => {
  const hook = { ...values, events: ["success"], channel: "webhook", urlSecret: "hook-url", headersSecret: "" };
  assert.deepEqual(notificationBody({ schedule: "Every night" }, hook), {
    name: "Ops", schedule: "Every night", events: ["success"], channel: "webhook", urlSecret: "hook-url",
  });
  assert.equal(notificationBody({ schedule: "x" }, { ...hook, headersSecret: "h" }).headersSecret, "h");
});

test("empty minutes with long go as null, so the service names the problem", () => {
  assert.equal(notificationBody({ script: "s" }, { ...values, minutes: "" }).minutes, null);
});

test("a rule is described by where it sends and its last delivery", () => {
  const rule = { channel: "webhook", urlSecret: "u", headersSecret: "h", lastSent: null, lastResult: null };
  assert.deepEqual(describe(rule), { to: "webhook (URL in secret u, headers in h)", last: "never sent" });
  assert.equal(describe({ channel: "email", recipients: "a@b.example", lastSent: null }).to, "email to a@b.example");
});
