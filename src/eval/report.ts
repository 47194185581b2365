// The evaluation as one self-contained HTML page (inline CSS, inline SVG, PNG grids as data: URIs)
// and as summary tables. Pure string building from the results, browser-safe.
import { SCENE_FACTORS, type SceneFactor } from './factors.js';
import type { EvalSettings, ModelResult, ReconstructionResult } from './experiments.js';
import { describeChange, type OptionChange } from '../train/history.js';
import { bars, esc, heatmap, PALETTE, plot, type Series } from './svg.js';

export interface ReportInput {
  generated: string;
  adapter: string;
  command: string;
  /** Wall time of the whole evaluation. */
  seconds: number;
  settings: EvalSettings;
  results: ModelResult[];
  /** Per model: grid name -> PNG as a data: URI and its width in pixels. */
  images: Record<string, ReportImage>[];
  shared: Record<string, ReportImage>;
}

export interface ReportImage {
  uri: string;
  width: number;
}

const f3 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3));
const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(2) : 'n/a');
const pct = (v: number) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : 'n/a');

/** A short description of how the checkpoint was trained. */
export function trainingLabel(r: ModelResult): string {
  const t = r.training ?? {};
  const bits = [`${r.preset}`, `step ${r.step}`];
  if (typeof t.procedure === 'string') bits.push(t.procedure);
  if (typeof t.invariance === 'number' && t.invariance > 0) bits.push(`invariance ${t.invariance}${t.invarianceMode === 'relative' ? ' (relative)' : ''}`);
  if (typeof t.shapeBias === 'number' && t.shapeBias > 0) bits.push(`shape bias ${t.shapeBias}`);
  if (typeof t.randomShare === 'number' && t.randomShare > 0) bits.push(`random share ${t.randomShare}${t.randomEncoder === 'scene' ? ' (z1..z3 alone in the encoder)' : ''}`);
  if (typeof t.seed === 'number') bits.push(`seed ${t.seed}`);
  // Options changed on --resume, e.g. "from step 3000: procedure random -> clamped".
  const history = Array.isArray(t.history) ? (t.history as OptionChange[]) : [];
  for (const h of history) bits.push(`from step ${h.step}: ${describeChange(h)}`);
  return bits.join(', ');
}

// metrics.json files written before this score existed lack it.
const identifiedText = (v: { images: number; rate: number } | undefined) => (v?.images ? `${(100 * v.rate).toFixed(0)}% of ${v.images}` : '-');

const identityText = (v: ReconstructionResult['identityCode']) =>
  v ? `${f2(v.betweenFaces)} / ${f2(v.withinFace.az)}, ${f2(v.withinFace.el)}, ${f2(v.withinFace.light)} / ${f2(v.posteriorSd)}` : '-';

/** The headline numbers of each result, one row per metric: [metric, value per result]. */
export function summaryRows(results: readonly ModelResult[]): [string, ...string[]][] {
  const rows: [string, ...string[]][] = [];
  const add = (name: string, get: (r: ModelResult) => string) => rows.push([name, ...results.map(get)]);
  add('checkpoint', (r) => r.checkpoint);
  add('training', trainingLabel);
  add('reconstruction BCE / image (held-out)', (r) => f1(r.reconstruction.all.bce));
  add('reconstruction MSE / pixel (held-out)', (r) => r.reconstruction.all.mse.toFixed(4));
  add('faces told apart by their reconstructions (SHAPE batches)', (r) => identifiedText(r.reconstruction.identified));
  add('identity code z4..: rms spread between faces / within a face (az, el, light) / posterior sd', (r) => identityText(r.reconstruction.identityCode));
  for (const [k, f] of SCENE_FACTORS.entries()) {
    add(`Pearson r, z${k + 1} vs ${f}`, (r) => f3(r.tracking[f].r));
    add(`best latent for ${f} (r)`, (r) => `z${r.tracking[f].best.latent} (${f3(r.tracking[f].best.r)})`);
  }
  for (const f of SCENE_FACTORS) add(`invariance: mean cos z_id vs ${f} sweep`, (r) => f3(r.invariance[f].overall));
  add('same/different accuracy, z_identity', (r) => pct(r.recognition.identity.accuracy));
  add('same/different accuracy, full z', (r) => pct(r.recognition.full.accuracy));
  add('same/different accuracy, raw pixels', (r) => pct(r.recognition.pixels.accuracy));
  add('MIG', (r) => f3(r.disentanglement.mig.score));
  add('DCI disentanglement', (r) => f3(r.disentanglement.dci.disentanglement));
  add('DCI completeness', (r) => f3(r.disentanglement.dci.completeness));
  add('DCI informativeness (test R²)', (r) => f3(r.disentanglement.dci.informativenessTest));
  add('SAP', (r) => f3(r.disentanglement.sap.score));
  add('ABC pixel MSE, start → end, encoder summary', (r) => `${r.inference.encoder.initialMse.toFixed(4)} → ${r.inference.encoder.finalMse.toFixed(4)}`);
  add('ABC pixel MSE, start → end, pixel summary', (r) => `${r.inference.pixels.initialMse.toFixed(4)} → ${r.inference.pixels.finalMse.toFixed(4)}`);
  return rows;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The counts and defaults an evaluation ran with, as [name, value] rows. */
export function settingsRows(s: EvalSettings): [string, string][] {
  return [
    ['seed (held-out stream)', String(s.seed)],
    ['reconstruction', `${s.reconBatches} held-out batches of 20 per type (az, el, light, shape, random)`],
    ['re-rendering', `${s.traversalFaces} faces, ${s.traversalSteps} values per latent over the held-out range of its posterior mean; z1-z3 and the ${s.traversalIdentity} identity latents of largest variance`],
    ['sweeps (figure 9)', `${s.faces} faces, each swept in azimuth [-1.5, 1.5], elevation [-0.6, 0.6] and light [-1.5, 1.5] in 0.05 rad steps (the paper: 100 faces)`],
    ['same/different', `${s.pairs} pairs, half same identity, every image with its own random pose and light`],
    ['MIG, DCI, SAP', `${s.samples} random held-out faces; DCI trains on the first ${Math.round((2 * s.samples) / 3)}; MIG: 20 equal-width bins for latents and factors, normalised by factor entropy; DCI: gradient boosted regression trees (100, depth 3, learning rate 0.1) importances, informativeness = test R²; SAP: R² of a linear fit per latent and factor, gap of the top two`],
    ['ABC inference', `${s.chains} chains x ${s.iterations} iterations per summary; kernel exp(-d/ε), ε = ${s.abc.epsilonFactor} x median initial distance; angle random-walk sd ${SCENE_FACTORS.map((f) => `${f} ${s.abc.angleStep[f]}`).join(', ')}`],
  ];
}

function table(header: readonly string[], rows: readonly (readonly string[])[], cls = ''): string {
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

// Small grids (tiny presets, a few observations) are shown enlarged, pixel for pixel.
function img(im: ReportImage | undefined, alt: string): string {
  if (!im) return `<p class="missing">(no image: ${esc(alt)})</p>`;
  const scale = Math.max(1, Math.min(6, Math.floor(560 / im.width)));
  return `<img src="${im.uri}" alt="${esc(alt)}" class="grid" width="${im.width * scale}">`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1400px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}thead th{background:#eef2f7}
tbody th{font-weight:normal;color:#333;background:#f6f6f6}
td{font-variant-numeric:tabular-nums}
.cols{display:grid;grid-template-columns:repeat(var(--n),minmax(0,1fr));gap:18px}
.model h3{color:#0b4f8a}
.plots{display:flex;flex-wrap:wrap;gap:8px}
svg.plot{background:#fff;border:1px solid #e3e3e3;font-size:11px}
svg .title{font-size:12px;font-weight:600}svg .legend{font-size:10.5px}svg .small{font-size:10px}
img.grid{image-rendering:pixelated;max-width:100%;border:1px solid #ccc;background:#444}
.note{color:#555;max-width:1000px}
.meta td,.meta th{font-size:12.5px}
`;

/** The page. With several results (model and baseline) every section shows them side by side. */
export function renderReport(r: ReportInput): string {
  const n = r.results.length;
  const labels = r.results.map((x) => `${x.label}: ${trainingLabel(x)}`);
  const cols = (inner: (res: ModelResult, k: number) => string, heading = true) =>
    `<div class="cols" style="--n:${n}">${r.results.map((res, k) => `<div class="model">${heading ? `<h3>${esc(labels[k]!)}</h3>` : ''}${inner(res, k)}</div>`).join('')}</div>`;
  const out: string[] = [];
  out.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`);
  out.push(`<title>DC-IGN evaluation: ${esc(r.results.map((x) => x.checkpoint).join(' vs '))}</title><style>${CSS}</style></head><body><main>`);
  out.push(`<h1>DC-IGN evaluation</h1>`);
  out.push(
    table(['', 'value'], [
      ['generated', r.generated],
      ['adapter', r.adapter],
      ['command', r.command],
      ['run time', `${r.seconds.toFixed(1)} s`],
      ...settingsRows(r.settings),
    ], 'meta'),
  );

  out.push(`<h2 id="summary">Summary</h2>`);
  out.push(table(['metric', ...r.results.map((x) => x.label)], summaryRows(r.results)));

  // 1. Reconstruction
  out.push(`<h2 id="reconstruction">1. Reconstruction</h2><p class="note">Mean over held-out images of the summed binary cross-entropy (the training loss per image) and of the per-pixel squared error, reconstructing from the posterior mean. Grids: for each batch type (az, el, light, shape, random), a row of inputs over a row of reconstructions. Faces told apart: in each held-out SHAPE batch (20 faces in one pose and light), the share of reconstructions nearer in pixels to their own input than to any other face of the batch; chance is 5%.</p>`);
  const types = Object.keys(r.results[0]!.reconstruction.perType);
  out.push(
    table(
      ['batch type', ...r.results.flatMap((x) => [`${x.label} BCE`, `${x.label} MSE`])],
      [...types, 'all'].map((t) => [
        t,
        ...r.results.flatMap((x) => {
          const v = t === 'all' ? x.reconstruction.all : x.reconstruction.perType[t]!;
          return [f1(v.bce), v.mse.toFixed(4)];
        }),
      ]),
    ),
  );
  out.push(cols((_, k) => img(r.images[k]!.recon, 'inputs over reconstructions')));

  // 2. Re-rendering
  out.push(`<h2 id="rerendering">2. Re-rendering (figures 8 and 10)</h2><p class="note">Each row: a held-out face, then its decoding with one latent set to evenly spaced values over the range its posterior mean takes on the held-out set, every other latent clamped to the face's posterior mean.</p>`);
  const latentSets = r.results.map((x) => x.traversal.latents);
  const maxRows = Math.max(...latentSets.map((l) => l.length));
  for (let i = 0; i < maxRows; i++) {
    out.push(
      cols((res, k) => {
        const l = res.traversal.latents[i];
        if (!l) return '';
        return `<p><b>z${l.index}</b> (${esc(l.meaning)}) from ${l.values[0]!.toFixed(2)} to ${l.values[l.values.length - 1]!.toFixed(2)}</p>${img(r.images[k]![`traverse-z${l.index}`], `z${l.index} sweep`)}`;
      }, i === 0),
    );
  }

  // 3. Tracking
  out.push(`<h2 id="tracking">3. Latents track the scene (figure 9a-c)</h2><p class="note">Faces swept over each scene factor with the others held: the latent the procedure assigns to the factor against the true value (dots: a subsample of images; line and band: mean and sd over faces). r is Pearson's correlation over every image of the sweep; "best" is the latent with the largest |r|.</p>`);
  out.push(
    cols(
      (res) =>
        `<div class="plots">${SCENE_FACTORS.map((f, k) => {
          const t = res.tracking[f];
          return plot(
            [
              { color: PALETTE[k]!, kind: 'dots', points: t.points, opacity: 0.35 },
              { color: '#222', points: t.values.map((v, i) => [v, t.mean[i]!] as [number, number]), band: t.values.map((v, i) => [v, t.mean[i]! - t.sd[i]!, t.mean[i]! + t.sd[i]!] as [number, number, number]) },
            ],
            { title: `z${k + 1} vs ${f}: r = ${f3(t.r)}`, xLabel: `true ${f} (rad)`, yLabel: `inferred z${k + 1}`, width: 330, height: 250 },
          );
        }).join('')}</div>` +
        table(['factor', 'assigned latent r', 'best latent', 'best r'], SCENE_FACTORS.map((f) => [f, f3(res.tracking[f].r), `z${res.tracking[f].best.latent}`, f3(res.tracking[f].best.r)])),
    ),
  );

  // 4. Invariance
  out.push(`<h2 id="invariance">4. Invariance of the identity latents (figure 9d-f)</h2><p class="note">Cosine similarity between the identity latents z4..zn of each image of a sweep and of the same face at factor value 0 (the frontal face for azimuth), mean over faces (band: sd for the first model).</p>`);
  out.push(
    `<div class="plots">${SCENE_FACTORS.map((f) =>
      plot(
        r.results.map((res, k) => {
          const v = res.invariance[f];
          return {
            label: res.label,
            color: PALETTE[k]!,
            dash: k > 0,
            points: v.values.map((x, i) => [x, v.mean[i]!] as [number, number]),
            band: k === 0 ? v.values.map((x, i) => [x, v.mean[i]! - v.sd[i]!, Math.min(1, v.mean[i]! + v.sd[i]!)] as [number, number, number]) : undefined,
          } satisfies Series;
        }),
        { title: `${f} sweep`, xLabel: `${f} (rad)`, yLabel: 'mean cosine similarity', width: 400, height: 260 },
      ),
    ).join('')}</div>`,
  );
  out.push(table(['mean cosine (all values but 0)', ...r.results.map((x) => x.label)], SCENE_FACTORS.map((f) => [f, ...r.results.map((x) => f3(x.invariance[f].overall))])));

  // 5. Recognition
  out.push(`<h2 id="recognition">5. Same/different recognition (section 4.2)</h2><p class="note">Pairs of the same or different identities, each image with random pose and light. Each representation is standardised per image (mean 0, sd 1), the pairs' Pearson correlations are thresholded at the value that maximises accuracy (correlation &ge; threshold: "same"). Chance is 50%.</p>`);
  out.push(
    cols((res) => {
      const g = res.recognition;
      return (
        bars(
          [
            { label: 'z_identity (z4..zn)', value: g.identity.accuracy, color: PALETTE[0] },
            { label: 'full z', value: g.full.accuracy, color: PALETTE[1] },
            { label: 'raw pixels', value: g.pixels.accuracy, color: '#888' },
          ],
          { title: `accuracy on ${g.pairs} pairs` },
        ) + table(['representation', 'accuracy', 'threshold'], [['z_identity', pct(g.identity.accuracy), f3(g.identity.threshold)], ['full z', pct(g.full.accuracy), f3(g.full.threshold)], ['raw pixels', pct(g.pixels.accuracy), f3(g.pixels.threshold)]])
      );
    }),
  );

  // 6. Disentanglement metrics
  out.push(`<h2 id="disentanglement">6. Disentanglement metrics</h2><p class="note">On random held-out faces, with the renderer's known factors: azimuth, elevation, light and four identity coefficients. MIG (Chen et al. 2018): latents and factors discretised into 20 equal-width bins, mutual information gap of the top two latents over the factor's entropy. DCI (Eastwood and Williams 2018): importance matrix from gradient boosted regression trees (100 trees, depth 3, learning rate 0.1; disentanglement_lib uses a gradient boosted classifier on discrete factors, our factors are continuous), disentanglement and completeness as importance-weighted 1 - entropy, informativeness as the trees' R² on the held-out third. SAP (Kumar et al. 2018): R² of a linear fit of each factor on each latent alone, mean gap between the top two latents.</p>`);
  out.push(
    table(
      ['metric', ...r.results.map((x) => x.label)],
      [
        ['MIG', ...r.results.map((x) => f3(x.disentanglement.mig.score))],
        ['DCI disentanglement', ...r.results.map((x) => f3(x.disentanglement.dci.disentanglement))],
        ['DCI completeness', ...r.results.map((x) => f3(x.disentanglement.dci.completeness))],
        ['DCI informativeness (test R²)', ...r.results.map((x) => f3(x.disentanglement.dci.informativenessTest))],
        ['DCI informativeness (train R²)', ...r.results.map((x) => f3(x.disentanglement.dci.informativenessTrain))],
        ['SAP', ...r.results.map((x) => f3(x.disentanglement.sap.score))],
        ['samples (train / test for DCI)', ...r.results.map((x) => `${x.disentanglement.samples} (${x.disentanglement.train} / ${x.disentanglement.test})`)],
      ],
    ),
  );
  out.push(
    cols((res) => {
      const d = res.disentanglement;
      const rowsPerFactor = d.factors.map((name, k) => [
        name,
        `z${d.mig.topLatent[k]! + 1}`,
        f3(d.mig.perFactor[k]),
        f3(d.dci.perFactor[k]),
        f3(d.dci.r2Test[k]),
        f3(d.sap.perFactor[k]),
      ]);
      const latentLabels = d.dci.importance.map((_, j) => `z${j + 1}`);
      return (
        table(['factor', 'top-MI latent', 'MIG', 'DCI completeness', 'test R²', 'SAP'], rowsPerFactor) +
        `<div class="plots">${heatmap(d.dci.importance, latentLabels, d.factors, { title: 'DCI importance (latent x factor)', cell: 14 })}${heatmap(
          d.mig.mi.map((row) => row.map((v) => Math.max(0, v))),
          latentLabels,
          d.factors,
          { title: 'mutual information (nats)', cell: 14 },
        )}</div>`
      );
    }),
  );

  // 7. Inference
  out.push(`<h2 id="inference">7. Inference with the encoder as summary statistic (section 4.1, figure 6a)</h2><p class="note">ABC-MCMC over the renderer's scene (azimuth, elevation, light, 24 shape and 10 texture coefficients) for observed renders: each iteration updates one block, the angles by a reflected Gaussian random walk, the shape or the texture by the elliptical proposal S' = sqrt(1 - a²) S + a θ (a ~ U(-1, 1), θ ~ N(0, I)); a proposal is accepted with probability min(1, exp(-(d' - d)/ε)) where d is the L1 distance between summaries of hypothesis and observation. Solid: the encoder's posterior mean as the summary; dashed: raw pixels (mean absolute difference), the same chain (same observation, start and random numbers). Plotted: pixel MSE of each chain's current hypothesis.</p>`);
  if (r.shared['inference-observations']) out.push(`<p>Observations (chain 1, 2, ...):</p>${img(r.shared['inference-observations'], 'observations')}`);
  out.push(
    cols((res) => {
      const inf = res.inference;
      const series: Series[] = [];
      inf.encoder.mse.forEach((t, c) => series.push({ label: c === 0 ? 'encoder summary' : undefined, color: PALETTE[c % PALETTE.length]!, points: t.map((v, i) => [i, v] as [number, number]) }));
      inf.pixels.mse.forEach((t, c) => series.push({ label: c === 0 ? 'pixel summary' : undefined, color: PALETTE[c % PALETTE.length]!, dash: true, opacity: 0.7, points: t.map((v, i) => [i, v] as [number, number]) }));
      return (
        plot(series, { title: 'pixel MSE of the current hypothesis', xLabel: 'iteration', yLabel: 'MSE (log)', logY: true, width: 560, height: 320 }) +
        table(
          ['', 'encoder summary', 'pixel summary'],
          [
            ['MSE start (mean of chains)', inf.encoder.initialMse.toFixed(4), inf.pixels.initialMse.toFixed(4)],
            ['MSE end (mean of chains)', inf.encoder.finalMse.toFixed(4), inf.pixels.finalMse.toFixed(4)],
            ['acceptance rate', pct(mean(inf.encoder.acceptance)), pct(mean(inf.pixels.acceptance))],
            ['ε', sci(inf.encoder.epsilon), sci(inf.pixels.epsilon)],
            ...SCENE_FACTORS.map((f: SceneFactor) => [`|${f} error| at the end (rad)`, f3(inf.encoder.angleError[f]), f3(inf.pixels.angleError[f])]),
          ],
        )
      );
    }),
  );
  out.push(`</main></body></html>`);
  return out.join('\n');
}

function mean(x: readonly number[]): number {
  return x.length ? x.reduce((a, b) => a + b, 0) / x.length : NaN;
}
