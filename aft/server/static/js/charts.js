// A script's run history as two small inline SVG charts: the share of runs that succeeded per
// day, and how long each run took. The numbers are pure functions; the drawing needs a page.
import { duration, fmtTime } from "./format.js";
import { FINAL } from "./job-states.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 180;
const PAD = { left: 64, right: 12, top: 12, bottom: 28 };

// The jobs that ended, oldest first, as { id, time (when it ended), seconds (null when it
// never started), ok, status }.
export function runPoints(jobs) {
  return jobs
    .filter((job) => FINAL.has(job.status) && job.finished)
    .map((job) => ({ id: job.jobId, time: job.finished, seconds: job.started != null ? Math.max(0, job.finished - job.started) : null, ok: job.status === "succeeded", status: job.status }))
    .sort((a, b) => a.time - b.time);
}

// The start (Unix seconds) of the browser's local day holding time.
export function localDay(time) {
  const d = new Date(time * 1000);
  d.setHours(0, 0, 0, 0);
  return d.getTime() / 1000;
}

// Per day that had runs, oldest first: { day (its start), runs, ok, rate (0 to 1) }.
export function dailyRates(points, dayOf = localDay) {
  const days = new Map();
  for (const p of points) {
    const day = dayOf(p.time);
    const entry = days.get(day) || { day, runs: 0, ok: 0 };
    entry.runs += 1;
    entry.ok += p.ok ? 1 : 0;
    days.set(day, entry);
  }
  return [...days.values()].sort((a, b) => a.day - b.day).map((d) => ({ ...d, rate: d.ok / d.runs }));
}

// The smallest of 1, 2, 5, 10, 20, 50... that is at least value (1 for 0 or less): the top of
// an axis.
export function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((top) => top >= value * (1 - 1e-12));
}

// Maps [lo, hi] onto [from, to]; when lo equals hi (one value), everything goes to the middle.
export function scaler(lo, hi, from, to) {
  if (hi === lo) return () => (from + to) / 2;
  return (value) => from + ((value - lo) / (hi - lo)) * (to - from);
}

// The whole history in numbers: { runs, ok, rate (null without runs), median (seconds, null
// when no run started) }.
export function runSummary(points) {
  const ok = points.filter((p) => p.ok).length;
  const times = points.map((p) => p.seconds).filter((s) => s !== null).sort((a, b) => a - b);
  const mid = Math.floor(times.length / 2);
  const median = !times.length ? null : times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { runs: points.length, ok, rate: points.length ? ok / points.length : null, median };
}

// How many seconds, in the words of the job pages ("820 ms", "4.2 s").
export const seconds = (s) => duration({ started: 1, finished: 1 + s });

const day = (time) => fmtTime(time).slice(0, 10);

// The labels under a time axis from first to last: their dates, or their times of day when
// both fall on one day.
function timeLabels(first, last, x) {
  if (first === last) return [[x(first), day(first), "middle"]];
  const label = day(first) === day(last) ? (t) => fmtTime(t).slice(11, 16) : day;
  return [[PAD.left, label(first), "start"], [WIDTH - PAD.right, label(last), "end"]];
}

function el(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

function frame(label, yTicks, xLabels) {
  const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": label, class: "chart" });
  for (const [y, text] of yTicks) {
    svg.append(el("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, class: "grid" }),
      el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, text));
  }
  for (const [x, text, anchor] of xLabels) svg.append(el("text", { x, y: HEIGHT - 8, "text-anchor": anchor, class: "axis" }, text));
  return svg;
}

// Bars of each day's share of runs that succeeded (0 to 100 %).
export function successChart(days) {
  const bottom = HEIGHT - PAD.bottom;
  const y = scaler(0, 1, bottom, PAD.top);
  const band = (WIDTH - PAD.left - PAD.right) / days.length;
  const first = days[0].day;
  const last = days[days.length - 1].day;
  const svg = frame(`Success rate per day, ${day(first)} to ${day(last)}`, [[y(0), "0%"], [y(0.5), "50%"], [y(1), "100%"]],
    days.length === 1 ? [[PAD.left + band / 2, day(first), "middle"]] : [[PAD.left, day(first), "start"], [WIDTH - PAD.right, day(last), "end"]]);
  days.forEach((d, i) => {
    const top = y(d.rate);
    const kind = d.rate === 1 ? "ok" : d.rate === 0 ? "bad" : "mixed";
    const width = Math.min(48, Math.max(1, band * 0.7));
    svg.append(el("rect", { x: PAD.left + i * band + (band - width) / 2, y: Math.min(top, bottom - 2), width, height: Math.max(2, bottom - top), class: `bar ${kind}` },
      el("title", null, `${day(d.day)}: ${d.ok} of ${d.runs} run${d.runs === 1 ? "" : "s"} succeeded`)));
  });
  return svg;
}

// Each run's duration, in the order they ended: a line through dots, failed runs marked.
export function durationChart(points) {
  const timed = points.filter((p) => p.seconds !== null);
  const bottom = HEIGHT - PAD.bottom;
  const top = niceCeiling(Math.max(...timed.map((p) => p.seconds)));
  const y = scaler(0, top, bottom, PAD.top);
  const x = scaler(timed[0].time, timed[timed.length - 1].time, PAD.left + 6, WIDTH - PAD.right - 6);
  const first = timed[0].time;
  const last = timed[timed.length - 1].time;
  const svg = frame(`Duration of each run, ${day(first)} to ${day(last)}`, [[y(0), "0"], [y(top / 2), seconds(top / 2)], [y(top), seconds(top)]],
    timeLabels(first, last, x));
  if (timed.length > 1) svg.append(el("polyline", { points: timed.map((p) => `${x(p.time).toFixed(1)},${y(p.seconds).toFixed(1)}`).join(" "), class: "line" }));
  for (const p of timed) {
    svg.append(el("circle", { cx: x(p.time).toFixed(1), cy: y(p.seconds).toFixed(1), r: timed.length > 60 ? 2.5 : 4, class: `dot ${p.ok ? "ok" : "bad"}` },
      el("title", null, `${p.id}: ${seconds(p.seconds)}, ${p.status}, ended ${fmtTime(p.time)}`)));
  }
  return svg;
}
