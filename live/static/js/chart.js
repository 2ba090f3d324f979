// The live chart of the control panel: online (line), entries and exits (bars) per
// minute, drawn with the vendored uPlot (loaded as a classic script: window.uPlot).

export class LiveChart {
  constructor(el, labels) {
    this.el = el;
    this.labels = labels;
    this.plot = null;
  }

  update(series) {
    const uPlot = window.uPlot;
    if (!uPlot || !this.el) return;
    const data = [
      series.map((m) => m.t / 1000),
      series.map((m) => m.online),
      series.map((m) => m.entries),
      series.map((m) => m.exits),
    ];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    const bars = uPlot.paths.bars({ size: [0.4, 12] });
    const [online, entries, exits] = this.labels;
    this.plot = new uPlot(
      {
        width: Math.max(280, this.el.clientWidth),
        height: 220,
        scales: { x: { time: true }, n: { auto: true } },
        axes: [{ stroke: "#8a93a6" }, { scale: "n", stroke: "#8a93a6" }],
        series: [
          {},
          { label: online, scale: "n", stroke: "#ff3d71", width: 2, fill: "rgba(255,61,113,0.12)" },
          { label: entries, scale: "n", stroke: "#2ecc71", fill: "rgba(46,204,113,0.5)", paths: bars },
          { label: exits, scale: "n", stroke: "#8a93a6", fill: "rgba(138,147,166,0.5)", paths: bars },
        ],
      },
      data,
      this.el,
    );
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(280, this.el.clientWidth), height: 220 })).observe(this.el);
  }
}
