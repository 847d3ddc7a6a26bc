// A cron line in words (cron-words.js): the common shapes, and null for the rest.
import assert from "node:assert/strict";
import test from "node:test";

import { cronWords } from "../../aft/server/static/js/cron-words.js";

test("the common shapes are said in words", () => {
  assert.equal(cronWords("0 2 * * *"), "At 02:00 every day");
  assert.equal(cronWords(" 30  14 * * * "), "At 14:30 every day");
  assert.equal(cronWords("0 6 * * 1-5"), "At 06:00 on Monday to Friday");
  assert.equal(cronWords("0 6 * * MON"), "At 06:00 on Monday");
  assert.equal(cronWords("0 9 * * 6,0"), "At 09:00 on Saturday and Sunday");
  assert.equal(cronWords("0 9 * * 7"), "At 09:00 on Sunday");
  assert.equal(cronWords("15 3 1 * *"), "At 03:15 on day 1 of every month");
  assert.equal(cronWords("*/15 * * * *"), "Every 15 minutes");
  assert.equal(cronWords("5 * * * *"), "At minute 5 of every hour");
  assert.equal(cronWords("* * * * *"), "Every minute");
  assert.equal(cronWords("*/10 * * * * *"), "Every 10 seconds");
  assert.equal(cronWords("0 0 2 * * *"), "At 02:00 every day");
});

test("other shapes get no words rather than wrong ones", () => {
  for (const cron of ["0 2 * 1 *", "0 2 1 * 1", "0 2,14 * * *", "0 */2 * * *", "0 2 * * 1,3,5", "0 2 * * 9", "@daily", "5 0 2 * * *", "0 2 * *", ""]) {
    assert.equal(cronWords(cron), null, cron);
  }
});
