// Formatting of times and durations (format.js); local times, whatever the machine's zone.
import assert from "node:assert/strict";
import test from "node:test";

import { ago, browserZone, capitalize, clockTime, duration, fmtTime, pad, startOfDay } from "../../aft/server/static/js/format.js";

const local = (...parts) => new Date(...parts).getTime() / 1000;

test("pad fills with zeros to the width", () => {
  assert.equal(pad(7), "07");
  assert.equal(pad(7, 3), "007");
  assert.equal(pad(123), "123");
});

test("fmtTime writes a Unix time as the local date and time, and its zone", () => {
  assert.match(fmtTime(local(2026, 0, 2, 3, 4, 5)), /^2026-01-02 03:04:05 \S+$/);
  assert.match(fmtTime(local(2025, 11, 31, 23, 59, 59)), /^2025-12-31 23:59:59 \S+$/);
  assert.equal(fmtTime(local(2026, 0, 2, 3, 4, 5)), fmtTime(local(2026, 0, 2, 3, 4, 5), browserZone()));
});

test("fmtTime writes a time in a given zone, named", () => {
  const utc = Date.UTC(2026, 0, 2, 1, 0, 0) / 1000;
  assert.equal(fmtTime(utc, "UTC"), "2026-01-02 01:00:00 UTC");
  assert.equal(fmtTime(utc, "America/New_York"), "2026-01-01 20:00:00 EST");
  assert.equal(fmtTime(utc, "Europe/Berlin"), "2026-01-02 02:00:00 GMT+1");
  assert.equal(fmtTime(Date.UTC(2026, 6, 1, 0, 0, 0) / 1000, "Europe/Berlin"), "2026-07-01 02:00:00 GMT+2");
});

test("fmtTime shows a dash for no time", () => {
  assert.equal(fmtTime(null), "—");
  assert.equal(fmtTime(0), "—");
  assert.equal(fmtTime(undefined), "—");
});

test("clockTime is the local time of day to the millisecond", () => {
  assert.equal(clockTime(local(2026, 4, 6, 7, 8, 9, 45)), "07:08:09.045");
  assert.equal(clockTime(local(2026, 4, 6, 23, 0, 0, 999)), "23:00:00.999");
});

test("ago says how long before now, rounded to its unit", () => {
  const now = 1_800_000_000;
  assert.equal(ago(now - 10, now), "just now");
  assert.equal(ago(now - 44, now), "just now");
  assert.equal(ago(now - 45, now), "1 min ago");
  assert.equal(ago(now - 300, now), "5 min ago");
  assert.equal(ago(now - 7200, now), "2 h ago");
  assert.equal(ago(now - 3 * 86400, now), "3 d ago");
  assert.equal(ago(now + 600, now), "just now");  // a clock slightly ahead
});

test("ago gives the date after 30 days, and never for no time", () => {
  const then = local(2026, 0, 2, 3, 4, 5);
  assert.equal(ago(then, then + 31 * 86400), "2026-01-02");
  assert.equal(ago(null), "never");
  assert.equal(ago(0, 100), "never");
});

test("ago counts from the clock when no time is given", () => {
  assert.equal(ago(Date.now() / 1000 - 120), "2 min ago");
});

test("duration picks its unit by length", () => {
  const ran = (seconds) => duration({ started: 1000, finished: 1000 + seconds });
  assert.equal(ran(0.25), "250 ms");
  assert.equal(ran(4.2), "4.2 s");
  assert.equal(ran(89), "89.0 s");
  assert.equal(ran(185), "3 min 5 s");
  assert.equal(ran(7800), "2 h 10 min");
});

test("duration of a running job counts to now; of a queued one, a dash", () => {
  assert.equal(duration({ started: 1000, finished: null }, 1030), "30.0 s");
  assert.equal(duration({ started: null }), "—");
  assert.match(duration({ started: Date.now() / 1000 - 2 }), /^\d\.\d s$/);
});

test("capitalize raises the first letter only", () => {
  assert.equal(capitalize("the port is wrong"), "The port is wrong");
  assert.equal(capitalize("SFTP failed"), "SFTP failed");
  assert.equal(capitalize(""), "");
  assert.equal(capitalize(undefined), undefined);
});

test("startOfDay is the browser's midnight of a date, null for none or a wrong one", () => {
  assert.equal(startOfDay("2026-03-04"), local(2026, 2, 4, 0, 0, 0));
  assert.equal(startOfDay("2026-12-31"), local(2026, 11, 31));
  assert.equal(startOfDay(""), null);
  assert.equal(startOfDay(null), null);
  assert.equal(startOfDay("2026-02-30"), null);
  assert.equal(startOfDay("yesterday"), null);
});
