// The entry module (app.js) wires the pages, the router and the start, over a stand-in page.
import assert from "node:assert/strict";
import test from "node:test";

const listeners = [];
const target = (name) => ({ addEventListener: (type) => listeners.push(`${name}:${type}`) });
globalThis.window = target("window");
globalThis.document = target("document");

test("the entry starts the console once the page is parsed, and follows the hash", async () => {
  await import("../../aft/server/static/app.js");
  assert.deepEqual(listeners.sort(), ["document:DOMContentLoaded", "window:beforeunload", "window:hashchange"]);
});
