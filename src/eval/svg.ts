// Small SVG plots drawn by hand for the report: lines with bands, scatter, heatmaps and bars.
// Pure string building, browser-safe; every plot is self-contained (no scripts, no fonts to load).

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Roughly `count` round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** A tick label with as many decimals as the tick step needs (0.9995 and 0.9990 stay apart). */
function fmt(v: number, step = 0): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || (a < 1e-3 && step < 1e-3)) return v.toExponential(1);
  const decimals = step > 0 ? Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9))) : 2;
  return String(Number(v.toFixed(decimals)));
}

const stepOf = (t: number[]) => (t.length > 1 ? t[1]! - t[0]! : 0);

/** Colours that stay apart for the colour-blind (Okabe-Ito). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

export interface Series {
  label?: string;
  color: string;
  points: readonly (readonly [number, number])[];
  /** 'line' (default) or 'dots'. */
  kind?: 'line' | 'dots';
  dash?: boolean;
  width?: number;
  /** A shaded band (x, low, high) drawn under the line. */
  band?: readonly (readonly [number, number, number])[];
  opacity?: number;
}

export interface PlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  xRange?: [number, number];
  yRange?: [number, number];
  /** Log-scale y axis (values <= 0 are dropped). */
  logY?: boolean;
  legend?: boolean;
}

// Clip paths need document-unique ids when several plots share a page.
let clipId = 0;

const M = { left: 56, right: 12, top: 26, bottom: 40 };

function extent(values: number[], pad = 0.04): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const d = (hi - lo) * pad;
  return [lo - d, hi + d];
}

/** An x-y plot of lines and/or dots, with axes, ticks, labels and an optional legend. */
export function plot(series: readonly Series[], o: PlotOptions = {}): string {
  const W = o.width ?? 420;
  const H = o.height ?? 280;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const ty = (v: number) => (o.logY ? Math.log10(v) : v);
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => [...s.points.map((p) => p[1]), ...(s.band ?? []).flatMap((b) => [b[1], b[2]])]).filter((v) => !o.logY || v > 0);
  const [x0, x1] = o.xRange ?? extent(xs, 0.02);
  const [y0, y1] = o.yRange ? (o.yRange.map(ty) as [number, number]) : extent(ys.map(ty));
  const sx = (v: number) => M.left + ((v - x0) / (x1 - x0 || 1)) * pw;
  const sy = (v: number) => M.top + ph - ((ty(v) - y0) / (y1 - y0 || 1)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" class="plot" role="img"${o.title ? ` aria-label="${esc(o.title)}"` : ''}>`);
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="#fff" stroke="#999"/>`);
  const xt = ticks(x0, x1);
  for (const t of xt) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${M.top}" y2="${M.top + ph}" stroke="#eee"/><text x="${x}" y="${M.top + ph + 14}" text-anchor="middle">${fmt(t, stepOf(xt))}</text>`);
  }
  // Log axes: ticks at whole decades, or at round values inside a single decade.
  let yt = o.logY ? ticks(y0, y1).filter((t) => Number.isInteger(t)) : ticks(y0, y1);
  // Round values inside one decade are labelled with the decimals of their own step.
  let withinDecade = 0;
  if (o.logY && yt.length < 2) {
    const linear = ticks(10 ** y0, 10 ** y1).filter((v) => v > 0);
    withinDecade = stepOf(linear);
    yt = linear.map(Math.log10);
  }
  const yStep = o.logY ? 0 : stepOf(yt);
  for (const t of yt) {
    const y = (M.top + ph - ((t - y0) / (y1 - y0 || 1)) * ph).toFixed(1);
    const label = !o.logY ? fmt(t, yStep) : fmt(10 ** t, withinDecade || 10 ** t / 10);
    parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${y}" y2="${y}" stroke="#eee"/><text x="${M.left - 4}" y="${y}" dy="0.32em" text-anchor="end">${label}</text>`);
  }
  parts.push(`<clipPath id="c${clipId}"><rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}"/></clipPath><g clip-path="url(#c${clipId})">`);
  clipId++;
  for (const s of series) {
    if (s.band?.length) {
      const up = s.band.map((b) => `${sx(b[0]).toFixed(1)},${sy(b[2]).toFixed(1)}`);
      const down = [...s.band].reverse().map((b) => `${sx(b[0]).toFixed(1)},${sy(b[1]).toFixed(1)}`);
      parts.push(`<polygon points="${[...up, ...down].join(' ')}" fill="${s.color}" fill-opacity="0.15" stroke="none"/>`);
    }
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!o.logY || p[1] > 0));
    if (s.kind === 'dots') {
      for (const p of pts) parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="1.8" fill="${s.color}" fill-opacity="${s.opacity ?? 0.5}"/>`);
    } else if (pts.length) {
      parts.push(
        `<polyline points="${pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 1.5}"${s.dash ? ' stroke-dasharray="5 3"' : ''}${s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : ''}/>`,
      );
    }
  }
  parts.push('</g>');
  if (o.title) parts.push(`<text x="${M.left + pw / 2}" y="16" text-anchor="middle" class="title">${esc(o.title)}</text>`);
  if (o.xLabel) parts.push(`<text x="${M.left + pw / 2}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  if (o.yLabel) parts.push(`<text transform="translate(13 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  const labelled = series.filter((s) => s.label);
  if (o.legend !== false && labelled.length) {
    labelled.forEach((s, i) => {
      const y = M.top + 10 + i * 13;
      const x = M.left + pw - 128;
      parts.push(
        s.kind === 'dots'
          ? `<circle cx="${x + 9}" cy="${y - 3}" r="3" fill="${s.color}"/>`
          : `<line x1="${x}" x2="${x + 18}" y1="${y - 3}" y2="${y - 3}" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="5 3"' : ''}/>`,
        `<text x="${x + 22}" y="${y}" class="legend">${esc(s.label!)}</text>`,
      );
    });
  }
  parts.push('</svg>');
  return parts.join('');
}


/** A matrix as coloured cells (0 white to max dark blue), with row and column labels. */
export function heatmap(matrix: readonly (readonly number[])[], rowLabels: readonly string[], colLabels: readonly string[], o: { title?: string; cell?: number } = {}): string {
  const cell = o.cell ?? 16;
  const left = 44;
  const top = 132;
  const rows = matrix.length;
  const cols = matrix[0]?.length ?? 0;
  const W = Math.max(left + cols * cell + 60, o.title ? 12 + o.title.length * 6.6 : 0);
  const H = top + rows * cell + 8;
  let max = 0;
  for (const r of matrix) for (const v of r) max = Math.max(max, v);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" class="plot" role="img">`];
  if (o.title) parts.push(`<text x="4" y="14" class="title">${esc(o.title)}</text>`);
  colLabels.forEach((l, j) => {
    const x = left + j * cell + cell / 2;
    parts.push(`<text transform="translate(${x + 4} ${top - 4}) rotate(-60)" class="small">${esc(l)}</text>`);
  });
  matrix.forEach((r, i) => {
    parts.push(`<text x="${left - 4}" y="${top + i * cell + cell / 2}" dy="0.32em" text-anchor="end" class="small">${esc(rowLabels[i] ?? '')}</text>`);
    r.forEach((v, j) => {
      const a = max > 0 ? v / max : 0;
      parts.push(`<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell - 1}" height="${cell - 1}" fill="rgb(${Math.round(255 - 230 * a)},${Math.round(255 - 170 * a)},${Math.round(255 - 75 * a)})"><title>${esc(`${rowLabels[i]} / ${colLabels[j]}: ${v.toFixed(3)}`)}</title></rect>`);
    });
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Horizontal bars in [0, 1] with their values printed. */
export function bars(items: readonly { label: string; value: number; color?: string }[], o: { title?: string; width?: number; max?: number } = {}): string {
  const W = o.width ?? 420;
  const left = 150;
  const rowH = 20;
  const top = o.title ? 24 : 6;
  const H = top + items.length * rowH + 6;
  const max = o.max ?? 1;
  const pw = W - left - 50;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" class="plot" role="img">`];
  if (o.title) parts.push(`<text x="4" y="15" class="title">${esc(o.title)}</text>`);
  items.forEach((it, i) => {
    const y = top + i * rowH;
    const w = Math.max(0, Math.min(1, it.value / max)) * pw;
    parts.push(
      `<text x="${left - 6}" y="${y + rowH / 2}" dy="0.32em" text-anchor="end">${esc(it.label)}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${it.color ?? PALETTE[0]}"/>`,
      `<text x="${left + w + 4}" y="${y + rowH / 2}" dy="0.32em">${Number.isFinite(it.value) ? it.value.toFixed(3) : 'n/a'}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
