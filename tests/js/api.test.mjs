// Calls to the service (api.js) over a stand-in fetch.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { api, onSessionLost, session } from "../../aft/server/static/js/api.js";
import { ApiError } from "../../aft/server/static/js/errors.js";

const realFetch = globalThis.fetch;
let calls = [];

function answer(status, body) {
  globalThis.fetch = async (path, init) => {
    calls.push({ path, init });
    if (status === null) throw new TypeError("Failed to fetch");
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return new Response(text, { status, headers: { "Content-Type": "application/json" } });
  };
}

afterEach(() => {
  globalThis.fetch = realFetch;
  calls = [];
  session.csrf = null;
  onSessionLost(() => {});
});

test("a GET asks for JSON, sends no body and no CSRF token", async () => {
  session.csrf = "token-1";
  answer(200, { scripts: [] });
  assert.deepEqual(await api("GET", "/v1/scripts"), { scripts: [] });
  const [{ path, init }] = calls;
  assert.equal(path, "/v1/scripts");
  assert.equal(init.method, "GET");
  assert.equal(init.credentials, "same-origin");
  assert.equal(init.cache, "no-store");
  assert.deepEqual(init.headers, { Accept: "application/json" });
  assert.equal(init.body, undefined);
});

test("a change sends its body as JSON with the session's CSRF token", async () => {
  session.csrf = "token-1";
  answer(201, { name: "x" });
  await api("POST", "/v1/scripts", { name: "x", retries: 0 });
  const [{ init }] = calls;
  assert.equal(init.headers["Content-Type"], "application/json");
  assert.equal(init.headers["X-CSRF-Token"], "token-1");
  assert.deepEqual(JSON.parse(init.body), { name: "x", retries: 0 });
});

test("a change without a body sends no Content-Type; none signed in, no token", async () => {
  answer(200, { state: "login" });
  await api("POST", "/ui/logout");
  const [{ init }] = calls;
  assert.deepEqual(init.headers, { Accept: "application/json" });
});

test("an error answer is an ApiError with the service's message and field", async () => {
  answer(409, { error: "account_exists", message: "an account named admin exists", field: "username" });
  await assert.rejects(api("POST", "/ui/setup", {}), (error) =>
    error instanceof ApiError && error.status === 409 && error.code === "account_exists"
    && error.field === "username" && error.message === "an account named admin exists");
});

test("an error answer that is no JSON still says its status", async () => {
  answer(502, "<html>Bad gateway</html>");
  await assert.rejects(api("GET", "/v1/jobs"), { message: "the service answered HTTP 502" });
});

test("a service out of reach is ApiError 0, unreachable", async () => {
  answer(null);
  await assert.rejects(api("GET", "/ui/session"), (error) =>
    error instanceof ApiError && error.status === 0 && error.code === "unreachable"
    && /cannot be reached/.test(error.message));
});

test("401 from /v1 means the session ended; from /ui it does not", async () => {
  let lost = 0;
  onSessionLost(() => { lost += 1; });
  answer(401, { error: "unauthorized", message: "sign in" });
  await assert.rejects(api("GET", "/v1/jobs"), { status: 401 });
  assert.equal(lost, 1);
  await assert.rejects(api("POST", "/ui/login", {}), { status: 401 });
  assert.equal(lost, 1);
});
