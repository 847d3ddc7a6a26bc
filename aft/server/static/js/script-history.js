// The History section of a script's page: its last runs' success rate and durations as charts.
import { api, enc } from "./api.js";
import { card, loading } from "./blocks.js";
import { dailyRates, durationChart, runPoints, runSummary, seconds, successChart } from "./charts.js";
import { clear, h } from "./dom.js";

// How many of the script's latest jobs the charts show (the most the jobs route gives at once).
export const HISTORY_JOBS = 500;

let sheet = null;

// The History card of the script name; it fills in once the jobs have been read.
export function scriptHistory(name) {
  if (!sheet) {
    sheet = h("link", { rel: "stylesheet", href: new URL("../charts.css", import.meta.url).href });
    document.head.append(sheet);
  }
  const body = h("div", { class: "card-body history" }, loading());
  api("GET", `/v1/jobs?script=${enc(name)}&limit=${HISTORY_JOBS}`).then(({ jobs }) => {
    const points = runPoints(jobs);
    if (!points.length) {
      clear(body, h("div", { class: "empty" }, h("strong", { text: "No runs yet" }), "Charts of its success rate and durations appear once a job of this script has ended."));
      return;
    }
    const { runs, ok, rate, median } = runSummary(points);
    const timed = points.some((p) => p.seconds !== null);
    clear(body,
      h("p", { class: "history-summary" }, `${runs} run${runs === 1 ? "" : "s"} ended, ${ok} succeeded (${Math.round(rate * 100)}%)`,
        median === null ? "" : `; median duration ${seconds(median)}`, "."),
      h("figure", null, h("figcaption", { text: "Success rate per day" }), successChart(dailyRates(points))),
      timed ? h("figure", null, h("figcaption", { text: "Duration of each run" }), durationChart(points)) : null);
  }, (error) => clear(body, h("div", { class: "form-error", role: "alert" }, error.message)));
  return card("History", `The last ${HISTORY_JOBS} jobs at most`, body);
}
