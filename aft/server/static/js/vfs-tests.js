// The last connection test of each VFS profile, kept in this browser (localStorage) so the
// VFS Library list shows it after the page that ran it is gone.
const KEY = "aft.vfsTests";

function readAll(storage) {
  try {
    return JSON.parse(storage.getItem(KEY) || "{}");
  } catch {
    return {};
  }
}

// Records the test of profile name: ok, its message, now (Unix seconds).
export function rememberTest(name, ok, message, storage = globalThis.localStorage, now = Date.now() / 1000) {
  if (!storage) return;
  const all = readAll(storage);
  all[name] = { ok, message, time: now };
  storage.setItem(KEY, JSON.stringify(all));
}

// The last test of profile name, { ok, message, time }, or null.
export function lastTest(name, storage = globalThis.localStorage) {
  return (storage && readAll(storage)[name]) || null;
}
