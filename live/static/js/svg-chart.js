// Small SVG charts for the review: a line or bars over time, with a marker for each
// staff action. SVG (not canvas) so the page prints sharp and needs nothing else.

const NS = "http://www.w3.org/2000/svg";
const W = 800;
const H = 180;
const PAD = { left: 40, right: 10, top: 12, bottom: 22 };

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Draw `points` ([{t, v}], t in epoch ms, one per minute) into `container`.
 * `kind`: "line" or "bars"; `markers`: [{at, label}]; `time(ms)` formats an axis label.
 */
export function drawChart(container, points, { kind = "line", markers = [], time = String, label = "" } = {}) {
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: `chart-${kind}` });
  if (!points.length) {
    container.replaceChildren(svg);
    return svg;
  }
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t + 60_000;
  const top = Math.max(1, ...points.map((p) => p.v));
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);

  svg.append(
    el("line", { class: "axis", x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0) }),
    el("text", { class: "tick", x: PAD.left - 6, y: y(top) + 4, "text-anchor": "end" }, String(top)),
    el("text", { class: "tick", x: PAD.left - 6, y: y(0) + 4, "text-anchor": "end" }, "0"),
  );
  const every = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((p, i) => {
    if (i % every === 0) svg.append(el("text", { class: "tick", x: x(p.t), y: H - 6, "text-anchor": "middle" }, time(p.t)));
  });

  if (kind === "bars") {
    const width = Math.max(1, (W - PAD.left - PAD.right) / points.length - 2);
    for (const p of points) {
      const bar = el("rect", { class: "bar", x: x(p.t) + 1, y: y(p.v), width, height: Math.max(0, y(0) - y(p.v)) });
      bar.append(el("title", {}, `${time(p.t)}: ${p.v}`));
      svg.append(bar);
    }
  } else {
    // A step per minute (the most viewers at once in it): one minute still draws a line.
    const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)} L${x(p.t + 60_000).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    svg.append(el("path", { class: "line", d }));
  }

  for (const m of markers) {
    if (m.at < t0 || m.at > t1) continue;
    const g = el("g", { class: "marker" });
    g.append(
      el("line", { x1: x(m.at), y1: PAD.top, x2: x(m.at), y2: y(0) }),
      el("circle", { cx: x(m.at), cy: PAD.top, r: 3.5 }),
      el("title", {}, `${time(m.at)} ${m.label}`),
    );
    svg.append(g);
  }
  container.replaceChildren(svg);
  return svg;
}
