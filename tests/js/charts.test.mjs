// The numbers behind a script's History charts (charts.js).
import assert from "node:assert/strict";
import test from "node:test";

import { dailyRates, niceCeiling, runPoints, runSummary, scaler } from "../../aft/server/static/js/charts.js";

const job = (jobId, status, started, finished) => ({ jobId, status, started, finished });
const noon = (day) => new Date(2026, 0, day, 12).getTime() / 1000;

test("only jobs that ended count, oldest first, with their durations", () => {
  const points = runPoints([
    job("c", "failed", noon(3), noon(3) + 2),
    job("r", "running", noon(4), null),
    job("q", "queued", null, null),
    job("a", "succeeded", noon(1), noon(1) + 0.5),
    job("i", "interrupted", null, noon(2)),
  ]);
  assert.deepEqual(points.map((p) => [p.id, p.seconds, p.ok]), [["a", 0.5, true], ["i", null, false], ["c", 2, false]]);
  assert.deepEqual(runPoints([]), []);
});

test("the success rate per local day", () => {
  const points = runPoints([
    job("a", "succeeded", noon(1), noon(1) + 1), job("b", "failed", noon(1) + 5, noon(1) + 6),
    job("c", "succeeded", noon(1) + 9, noon(1) + 10), job("d", "halted", noon(5), noon(5) + 1),
  ]);
  const days = dailyRates(points);
  assert.deepEqual(days.map((d) => [d.runs, d.ok]), [[3, 2], [1, 0]]);
  assert.equal(days[0].rate, 2 / 3);
  assert.equal(days[1].rate, 0);
  assert.equal(new Date(days[1].day * 1000).getDate(), 5);
  assert.deepEqual(dailyRates([]), []);
});

test("an axis ends on 1, 2 or 5 times a power of ten", () => {
  assert.deepEqual([0, -3, 0.3, 1, 1.2, 3, 7, 10, 11, 420, 999].map(niceCeiling), [1, 1, 0.5, 1, 2, 5, 10, 10, 20, 500, 1000]);
});

test("scaling maps the range, one value to the middle", () => {
  const y = scaler(0, 10, 100, 0);
  assert.equal(y(0), 100);
  assert.equal(y(10), 0);
  assert.equal(y(2.5), 75);
  assert.equal(scaler(5, 5, 10, 30)(5), 20);
});

test("the summary: runs, successes, rate and median duration", () => {
  const points = runPoints([job("a", "succeeded", 0, 4), job("b", "failed", 10, 11), job("c", "succeeded", 20, 30), job("d", "interrupted", null, 40)]);
  assert.deepEqual(runSummary(points), { runs: 4, ok: 2, rate: 0.5, median: 4 });
  assert.deepEqual(runSummary(runPoints([job("a", "succeeded", 0, 3), job("b", "succeeded", 5, 6)])), { runs: 2, ok: 2, rate: 1, median: 2 });
  assert.deepEqual(runSummary([]), { runs: 0, ok: 0, rate: null, median: null });
});

test("many jobs over many days: one entry a day, rates and axis from all of them", () => {
  const jobs = Array.from({ length: 300 }, (_, i) => {
    const start = noon(1 + (i % 30)) + i;
    return job(`j${i}`, i % 3 === 0 ? "failed" : "succeeded", start, start + (i % 7) + 0.5);
  });
  const points = runPoints(jobs);
  assert.equal(points.length, 300);
  assert.ok(points.every((p, i) => i === 0 || points[i - 1].time <= p.time));
  const days = dailyRates(points);
  assert.equal(days.length, 30);
  assert.equal(days.reduce((sum, d) => sum + d.runs, 0), 300);
  assert.equal(days.reduce((sum, d) => sum + d.ok, 0), 200);
  assert.equal(niceCeiling(Math.max(...points.map((p) => p.seconds))), 10);
  assert.deepEqual(runSummary(points).rate, 2 / 3);
});
