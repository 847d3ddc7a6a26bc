// The console's icons: SVG paths drawn inline (nothing fetched), by name.

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  dashboard: "M4 4h6v8H4z|M14 4h6v5h-6z|M14 13h6v7h-6z|M4 16h6v4H4z",
  scripts: "M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z|M14 3v5h5|M10 12l-2 2 2 2|M14 12l2 2-2 2",
  vfs: "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3z|M4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6|M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3",
  secrets: "M6 11h12v10H6z|M8 11V7a4 4 0 0 1 8 0v4|M12 15v2",
  apikeys: "M11 15.5a3.5 3.5 0 1 1-7 0a3.5 3.5 0 1 1 7 0|M10 13l9-9|M16 7l3 3|M13.5 9.5l2 2",
  schedules: "M21 12a9 9 0 1 1-18 0a9 9 0 1 1 18 0|M12 7v5l3 2",
  jobs: "M3 12h4l3-8 4 16 3-8h4",
  transfers: "M4 8h13|M13 4l4 4-4 4|M20 16H7|M11 12l-4 4 4 4",
  settings: "M4 6h9|M17 6h3|M4 12h3|M11 12h9|M4 18h11|M19 18h1|M15 4v4|M9 10v4|M17 16v4",
  sun: "M16 12a4 4 0 1 1-8 0a4 4 0 1 1 8 0|M12 2v2|M12 20v2|M4.9 4.9l1.4 1.4|M17.7 17.7l1.4 1.4|M2 12h2|M20 12h2|M4.9 19.1l1.4-1.4|M17.7 6.3l1.4-1.4",
  moon: "M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z",
  system: "M3 4h18v12H3z|M8 20h8|M12 16v4",
  signout: "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4|M16 17l5-5-5-5|M21 12H9",
  menu: "M4 6h16|M4 12h16|M4 18h16",
  play: "M7 4l13 8-13 8z",
  plus: "M12 5v14|M5 12h14",
  copy: "M9 9h11v11H9z|M5 15H4V4h11v1",
  stop: "M6 6h12v12H6z",
  check: "M20 6L9 17l-5-5",
  alert: "M12 9v4|M12 17h.01|M10.3 3.9L1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z",
};

export const ICON_NAMES = Object.freeze(Object.keys(ICONS));

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  for (const d of ICONS[name].split("|")) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
