// The last connection test of each VFS profile, as the list shows it (vfs-tests.js).
import assert from "node:assert/strict";
import test from "node:test";

import { lastTest, rememberTest } from "../../aft/server/static/js/vfs-tests.js";

function memoryStorage() {
  const items = new Map();
  return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, String(v)) };
}

test("each profile keeps its own last test, the newest", () => {
  const storage = memoryStorage();
  assert.equal(lastTest("a", storage), null);
  rememberTest("a", false, "no such folder", storage, 100);
  rememberTest("b", true, "connected: 2 entries", storage, 150);
  rememberTest("a", true, "connected: 0 entries", storage, 200);
  assert.deepEqual(lastTest("a", storage), { ok: true, message: "connected: 0 entries", time: 200 });
  assert.deepEqual(lastTest("b", storage), { ok: true, message: "connected: 2 entries", time: 150 });
});

test("a damaged record or no storage is no test", () => {
  const storage = memoryStorage();
  storage.setItem("aft.vfsTests", "{not json");
  assert.equal(lastTest("a", storage), null);
  rememberTest("a", true, "ok", storage, 1);
  assert.equal(lastTest("a", storage).ok, true);
  assert.equal(lastTest("a", null), null);
  rememberTest("a", true, "ok", null);  // nothing to keep it in: nothing happens
});
