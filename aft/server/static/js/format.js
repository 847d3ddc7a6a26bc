// Pure formatting for the page: times, how long ago, durations, a message's first letter.

export const pad = (n, w = 2) => String(n).padStart(w, "0");

// A Unix time as "YYYY-MM-DD HH:MM:SS ZONE" in zone (an IANA name; the browser's own when
// left out), ZONE its short name there ("UTC", "EST", "GMT+1"); "—" for none.
export function fmtTime(ts, zone = undefined) {
  if (!ts) return "—";
  const format = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", timeZoneName: "short",
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const p = Object.fromEntries(format.formatToParts(new Date(ts * 1000)).map((part) => [part.type, part.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
}

// The browser's time zone (an IANA name).
export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

// A Unix time as the local time of day to the millisecond, "HH:MM:SS.mmm" (a log line's time).
export function clockTime(ts) {
  const d = new Date(ts * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// How long before now a Unix time was: "just now", "5 min ago", ...; its date after 30 days.
export function ago(ts, now = Date.now() / 1000) {
  if (!ts) return "never";
  const s = Math.max(0, now - ts);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.round(s / 86400)} d ago`;
  return fmtTime(ts).slice(0, 10);
}

// How long a job ran (or has run until now): "820 ms", "4.2 s", "3 min 5 s", "2 h 10 min".
export function duration(job, now = Date.now() / 1000) {
  if (!job.started) return "—";
  const s = (job.finished || now) - job.started;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

// The Unix time a local date "YYYY-MM-DD" begins (the browser's midnight); null for none
// or a date that is not one.
export function startOfDay(date) {
  const found = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date || "");
  if (!found) return null;
  const [year, month, day] = found.slice(1).map(Number);
  const start = new Date(year, month - 1, day);
  return start.getMonth() === month - 1 ? start.getTime() / 1000 : null;
}

export function capitalize(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}
