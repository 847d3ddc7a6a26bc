// Errors and the form field each message goes to (errors.js).
import assert from "node:assert/strict";
import test from "node:test";

import { ApiError, check, errorPlaces, FieldErrors, guessBy } from "../../aft/server/static/js/errors.js";

test("ApiError keeps the service's message, code and field", () => {
  const error = new ApiError(409, { error: "exists", message: "a script named x exists", field: "name" });
  assert.equal(error.status, 409);
  assert.equal(error.code, "exists");
  assert.equal(error.field, "name");
  assert.equal(error.message, "a script named x exists");
  assert.ok(error instanceof Error);
});

test("ApiError without a body names the HTTP status", () => {
  const error = new ApiError(502, null);
  assert.equal(error.message, "the service answered HTTP 502");
  assert.equal(error.code, null);
  assert.equal(error.field, null);
});

test("FieldErrors holds every problem; its message is the first", () => {
  const error = new FieldErrors({ name: "Enter a name", retries: "Retries is a whole number" });
  assert.equal(error.message, "Enter a name");
  assert.deepEqual(error.problems, { name: "Enter a name", retries: "Retries is a whole number" });
});

test("check throws only when there are problems", () => {
  check({});
  assert.throws(() => check({ cron: "A cron line has five fields" }), (error) =>
    error instanceof FieldErrors && error.problems.cron === "A cron line has five fields");
});

test("guessBy names the field of the first pattern that matches", () => {
  const guess = guessBy([[/retries/i, "retries"], [/name/i, "name"]]);
  assert.equal(guess("Retries must be below 100 (name x)"), "retries");
  assert.equal(guess("the name is taken"), "name");
  assert.equal(guess("something else"), null);
});

test("errorPlaces puts each problem of FieldErrors on its field, as written", () => {
  const error = new FieldErrors({ username: "Enter a user name", password: "a password has at least 10 characters" });
  assert.deepEqual(errorPlaces(error), [
    ["username", "Enter a user name"],
    ["password", "a password has at least 10 characters"],
  ]);
});

test("errorPlaces takes the field the service names, before any guess", () => {
  const error = new ApiError(400, { message: "wrong setup code", field: "code" });
  assert.deepEqual(errorPlaces(error, () => "username"), [["code", "Wrong setup code"]]);
});

test("errorPlaces guesses the field of a 4xx message", () => {
  const guess = guessBy([[/cron/i, "cron"]]);
  const error = new ApiError(400, { message: "'61 2 * * *' is not valid cron" });
  assert.deepEqual(errorPlaces(error, guess), [["cron", "'61 2 * * *' is not valid cron"]]);
});

test("errorPlaces puts on the form's top what is about no field", () => {
  const guess = guessBy([[/cron/i, "cron"]]);
  assert.deepEqual(errorPlaces(new ApiError(500, { message: "cron broke inside" }), guess), [[null, "Cron broke inside"]]);
  assert.deepEqual(errorPlaces(new ApiError(0, { message: "The aft service cannot be reached." }), guess),
    [[null, "The aft service cannot be reached."]]);
  assert.deepEqual(errorPlaces(new ApiError(400, { message: "nothing known" }), guess), [[null, "Nothing known"]]);
  assert.deepEqual(errorPlaces(new ApiError(400, { message: "cron again" })), [[null, "Cron again"]]);
  assert.deepEqual(errorPlaces(new TypeError("x is undefined")), [[null, "X is undefined"]]);
});

test("errorPlaces drops a field the page cleared (too many attempts are about the address)", () => {
  const error = new ApiError(429, { message: "too many attempts: wait 60 seconds", field: "password" });
  error.field = null;
  assert.deepEqual(errorPlaces(error), [[null, "Too many attempts: wait 60 seconds"]]);
});
