// mu and log sigma^2 of every latent as two bar panels in inline SVG, coloured by the latent's
// group, each bar titled with its numbers for hover and screen readers.
const SVG = 'http://www.w3.org/2000/svg';

export type LatentGroup = 'az' | 'el' | 'light' | 'id';

export function latentGroup(i: number): LatentGroup {
  return i === 0 ? 'az' : i === 1 ? 'el' : i === 2 ? 'light' : 'id';
}

export const GROUP_NAME: Record<LatentGroup, string> = { az: 'azimuth', el: 'elevation', light: 'light', id: 'identity' };

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, parent?: Element): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent?.appendChild(node);
  return node;
}

/** Replaces the contents of `host` with the chart. */
export function drawLatentChart(host: Element, mu: Float32Array, logvar: Float32Array): void {
  const n = mu.length;
  const width = 640;
  const panel = 92;
  const left = 62;
  const right = 8;
  const gap = 26;
  const height = 2 * panel + gap + 18;
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Bar chart of mu and log variance of ${n} latents`,
  });
  const step = (width - left - right) / n;
  const barWidth = Math.max(1, step * 0.72);
  const panels: [string, Float32Array, number][] = [
    ['\u03bc', mu, 0],
    ['log \u03c3\u00b2', logvar, panel + gap],
  ];
  for (const [label, values, top] of panels) {
    const extent = Math.max(1e-6, ...Array.from(values, Math.abs));
    const mid = top + panel / 2;
    const scale = panel / 2 / extent;
    el('text', { x: 0, y: mid + 4 }, svg).textContent = label;
    el('text', { x: left - 6, y: top + 9, 'text-anchor': 'end' }, svg).textContent = fmt(extent);
    el('text', { x: left - 6, y: top + panel, 'text-anchor': 'end' }, svg).textContent = fmt(-extent);
    el('line', { x1: left, x2: width - right, y1: mid, y2: mid, class: 'axis' }, svg);
    values.forEach((v, i) => {
      const h = Math.abs(v) * scale;
      const rect = el('rect', {
        x: left + i * step + (step - barWidth) / 2,
        y: v >= 0 ? mid - h : mid,
        width: barWidth,
        height: Math.max(h, 0.5),
        class: latentGroup(i),
      }, svg);
      el('title', {}, rect).textContent = `z${i + 1} (${GROUP_NAME[latentGroup(i)]}): ${label} = ${v.toFixed(4)}`;
    });
  }
  // Latent numbers under the lower panel: all of them when they fit, else 1 and every tenth.
  const every = n <= 40 ? 1 : 10;
  for (let i = 0; i < n; i++) {
    if (i > 0 && (i + 1) % every !== 0) continue;
    el('text', { x: left + (i + 0.5) * step, y: height - 2, 'text-anchor': 'middle' }, svg).textContent = `${i + 1}`;
  }
  host.replaceChildren(svg);
}

function fmt(x: number): string {
  return Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(2);
}
