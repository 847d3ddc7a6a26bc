// A job's log as the job page searches and downloads it (job-log.js).
import assert from "node:assert/strict";
import test from "node:test";

import { levelName, lineMatches, logText } from "../../aft/server/static/js/job-log.js";

const LINES = [
  { time: 1767225600.25, level: "info", text: "copying report.csv" },
  { time: 1767225601, level: "error", text: "Upload FAILED: timeout" },
];

test("the downloaded log has one line per log line, UTC times, levels aligned", () => {
  assert.equal(logText(LINES),
    "2026-01-01T00:00:00.250Z INFO  copying report.csv\n2026-01-01T00:00:01.000Z ERROR Upload FAILED: timeout\n");
  assert.equal(logText([]), "");
});

test("a search finds text in any case, or a level by its name", () => {
  assert.deepEqual(LINES.filter((l) => lineMatches(l, "failed")), [LINES[1]]);
  assert.deepEqual(LINES.filter((l) => lineMatches(l, " REPORT ")), [LINES[0]]);
  assert.deepEqual(LINES.filter((l) => lineMatches(l, "error")), [LINES[1]]);
  assert.deepEqual(LINES.filter((l) => lineMatches(l, "")), LINES);
  assert.equal(levelName("warn"), "WARN");
  assert.equal(levelName("other"), "other");
});
