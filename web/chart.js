// A small line chart on a <canvas>: linear or log y axis, ticks, a legend, sharp on any pixel ratio.

const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif';

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

function formatTick(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000) return `${(v / 1000).toFixed(a >= 10000 ? 0 : 1)}k`;
  if (a >= 1) return `${+v.toFixed(2)}`;
  if (a >= 0.01) return `${+v.toFixed(3)}`;
  if (a >= 1e-4) return `${+v.toPrecision(2)}`;
  return v.toExponential(0);
}

/// Exponential moving average, starting at the first value.
export function smooth(values, alpha) {
  const out = new Array(values.length);
  let acc = values.length ? values[0] : 0;
  for (let i = 0; i < values.length; i++) {
    acc += alpha * (values[i] - acc);
    out[i] = acc;
  }
  return out;
}

export class LineChart {
  /// options: {logY, yMin, yMax, xLabel, yFormat, legend: "top" (default) | "bottom"}
  constructor(canvas, options = {}) {
    this.canvas = canvas;
    this.options = options;
  }

  /// series: [{label, color, points: [[x, y], ...], width, alpha, dots}]
  draw(series, xMax) {
    const canvas = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const cssWidth = canvas.clientWidth || 500;
    const cssHeight = canvas.clientHeight || 300;
    if (canvas.width !== Math.round(cssWidth * dpr) || canvas.height !== Math.round(cssHeight * dpr)) {
      canvas.width = Math.round(cssWidth * dpr);
      canvas.height = Math.round(cssHeight * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssWidth, cssHeight);
    ctx.font = FONT;

    const o = this.options;
    const left = 52, right = 12, top = 12, bottom = 34;
    const w = cssWidth - left - right, h = cssHeight - top - bottom;

    const values = [];
    for (const s of series) for (const [, y] of s.points) if (Number.isFinite(y) && (!o.logY || y > 0)) values.push(y);
    // A loop, not Math.min(...values): long runs would overflow the argument list.
    let [vMin, vMax] = [Infinity, -Infinity];
    for (const v of values) [vMin, vMax] = [Math.min(vMin, v), Math.max(vMax, v)];
    let lo = o.yMin ?? (values.length ? vMin : 0.1);
    let hi = o.yMax ?? (values.length ? vMax : 1);
    if (o.logY) {
      lo = Math.max(lo, 1e-6);
      hi = Math.max(hi, lo * 1.5);
      lo /= 1.15;
      hi *= 1.15;
    } else if (hi - lo < 1e-9) {
      hi = lo + 1;
    }
    const xHi = Math.max(1, xMax ?? 1);
    const fy = o.logY
      ? (y) => top + h * (1 - (Math.log(y) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)))
      : (y) => top + h * (1 - (y - lo) / (hi - lo));
    const fx = (x) => left + (w * x) / xHi;

    // Grid and ticks.
    ctx.strokeStyle = "#e6e9ef";
    ctx.fillStyle = "#5d6577";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const yTicks = [];
    if (o.logY) {
      // 1-2-5 per decade; every mantissa when the range is narrower than that.
      for (const mantissas of [[1, 2, 5], [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]]) {
        yTicks.length = 0;
        for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
          for (const m of mantissas) {
            const v = m * 10 ** e;
            if (v >= lo && v <= hi) yTicks.push(v);
          }
        }
        if (yTicks.length >= 3) break;
      }
    } else {
      const step = niceStep(hi - lo, 5);
      for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) yTicks.push(v);
    }
    for (const v of yTicks) {
      const y = Math.round(fy(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + w, y);
      ctx.stroke();
      ctx.fillText((o.yFormat ?? formatTick)(v), left - 6, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const xStep = niceStep(xHi, 6);
    for (let v = 0; v <= xHi + 1e-9; v += xStep) {
      const x = Math.round(fx(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + h);
      ctx.stroke();
      ctx.fillText(formatTick(v), x, top + h + 5);
    }
    ctx.fillText(o.xLabel ?? "step", left + w / 2, top + h + 19);
    ctx.strokeStyle = "#9aa3b2";
    ctx.strokeRect(left + 0.5, top + 0.5, w, h);

    // Series, clipped to the plot.
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, w, h);
    ctx.clip();
    for (const s of series) {
      ctx.globalAlpha = s.alpha ?? 1;
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = s.width ?? 2;
      ctx.lineJoin = "round";
      const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!o.logY || y > 0));
      if (s.dots) {
        for (const [x, y] of pts) {
          ctx.beginPath();
          ctx.arc(fx(x), fy(y), 3, 0, 2 * Math.PI);
          ctx.fill();
        }
        continue;
      }
      ctx.beginPath();
      pts.forEach(([x, y], i) => (i ? ctx.lineTo(fx(x), fy(y)) : ctx.moveTo(fx(x), fy(y))));
      ctx.stroke();
    }
    ctx.restore();
    ctx.globalAlpha = 1;

    // Legend: the labelled series, top right (bottom right where the curves end high).
    const labelled = series.filter((s) => s.label);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    let y = o.legend === "bottom" ? top + h - 12 - 18 * (labelled.length - 1) : top + 12;
    const lx = left + w - 8 - Math.max(0, ...labelled.map((s) => ctx.measureText(s.label).width)) - 26;
    for (const s of labelled) {
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      ctx.fillRect(lx - 4, y - 9, ctx.measureText(s.label).width + 34, 18);
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.moveTo(lx, y);
      ctx.lineTo(lx + 20, y);
      ctx.stroke();
      ctx.fillStyle = "#1d2330";
      ctx.fillText(s.label, lx + 26, y);
      y += 18;
    }
  }
}
