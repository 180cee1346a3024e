// Live graphs: an SVG of one or two series over the last POINTS seconds, scaled to
// the largest value shown, redrawn in place (no framework, no canvas).

const NS = "http://www.w3.org/2000/svg";
export const POINTS = 120;

/** A bounded history of numbers. */
export class Series {
  constructor() {
    this.values = [];
  }
  push(v) {
    this.values.push(Number.isFinite(v) ? v : 0);
    if (this.values.length > POINTS) this.values.shift();
  }
  get last() {
    return this.values.length ? this.values[this.values.length - 1] : 0;
  }
}

function el(name, attrs) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

/** A graph of `series` ([{series, cls}]), `width`×`height` pixels. */
export class Graph {
  constructor(width = 180, height = 40, label = "") {
    this.w = width;
    this.h = height;
    this.svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "graph", role: "img" });
    if (label) this.svg.setAttribute("aria-label", label);
    this.svg.appendChild(el("rect", { x: 0, y: 0, width, height, class: "graph-bg" }));
    this.lines = [];
    this.maxText = el("text", { x: 2, y: 10, class: "graph-max" });
    this.svg.appendChild(this.maxText);
    this.draws = 0;
  }

  /** Draws the series; `fmt` formats the scale's top. */
  draw(series, fmt) {
    while (this.lines.length < series.length) {
      const p = el("polyline", { class: "graph-line" });
      this.svg.appendChild(p);
      this.lines.push(p);
    }
    let max = 0;
    for (const { series: s } of series) for (const v of s.values) max = Math.max(max, v);
    const top = max > 0 ? max * 1.1 : 1;
    const step = this.w / (POINTS - 1);
    series.forEach(({ series: s, cls }, i) => {
      const n = s.values.length;
      const pts = s.values
        .map((v, j) => {
          const x = (POINTS - n + j) * step;
          const y = this.h - 1 - (v / top) * (this.h - 12);
          return `${x.toFixed(1)},${y.toFixed(1)}`;
        })
        .join(" ");
      this.lines[i].setAttribute("points", pts);
      this.lines[i].setAttribute("class", `graph-line ${cls}`);
    });
    this.maxText.textContent = max > 0 ? fmt(max) : "";
    this.draws++;
    this.svg.dataset.draws = String(this.draws);
    this.svg.dataset.last = series.map(({ series: s }) => s.last).join(",");
  }
}
