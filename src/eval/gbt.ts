// Gradient boosted regression trees (squared loss), the regressor behind DCI's importance matrix.
// disentanglement_lib fits scikit-learn's GradientBoostingClassifier to discrete factors; the
// renderer's factors are continuous, so this is the regression counterpart with the same
// defaults (100 trees of depth 3, learning rate 0.1, exact greedy splits, no subsampling) and the
// same importance: the total squared-error reduction of the splits on each feature, normalised to
// sum to 1. Pure CPU code, browser-safe.

export interface GbtOptions {
  trees?: number;
  depth?: number;
  learningRate?: number;
}

export const GBT_DEFAULTS: Required<GbtOptions> = { trees: 100, depth: 3, learningRate: 0.1 };

interface Tree {
  // Heap layout: node n has children 2n+1 and 2n+2; feature -1 marks a leaf.
  feature: Int32Array;
  threshold: Float64Array;
  value: Float64Array;
}

export interface GbtModel {
  /** Predictions for samples given as feature columns (columns[f][i]). */
  predict(columns: readonly ArrayLike<number>[]): Float64Array;
  /** Normalised split importance of each feature (sums to 1, or all 0 when no split was made). */
  importances: Float64Array;
}

function checkColumns(columns: readonly ArrayLike<number>[], n: number, what: string): void {
  if (!columns.length) throw new Error(`${what}: no feature columns`);
  for (const c of columns) if (c.length !== n) throw new Error(`${what}: feature columns of unequal length (${c.length} vs ${n})`);
}

/**
 * Fits y from feature columns. Each level of a tree is grown for all its nodes in one pass over
 * each feature's presorted order, so a tree costs depth x features x samples.
 */
export function fitGbt(columns: readonly ArrayLike<number>[], y: ArrayLike<number>, options: GbtOptions = {}): GbtModel {
  const { trees: nTrees, depth, learningRate } = { ...GBT_DEFAULTS, ...options };
  const n = y.length;
  const d = columns.length;
  checkColumns(columns, n, 'fitGbt');
  if (n < 2) throw new Error(`fitGbt: need at least 2 samples, got ${n}`);
  const X = columns.map((c) => Float64Array.from(c));
  const order = X.map((col) => Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => col[a]! - col[b]!));
  // Values in sorted order, so the split scan reads them sequentially.
  const sorted = X.map((col, f) => Float64Array.from(order[f]!, (i) => col[i]!));
  let base = 0;
  for (let i = 0; i < n; i++) base += y[i]!;
  base /= n;
  const pred = new Float64Array(n).fill(base);
  const resid = new Float64Array(n);
  const importances = new Float64Array(d);
  const nodes = 2 ** (depth + 1) - 1;
  const trees: Tree[] = [];
  const nodeOf = new Int32Array(n);
  const cnt = new Float64Array(nodes);
  const tot = new Float64Array(nodes);
  const cntL = new Float64Array(nodes);
  const sumL = new Float64Array(nodes);
  const last = new Float64Array(nodes);
  const bestGain = new Float64Array(nodes);
  const bestFeature = new Int32Array(nodes);
  const bestThreshold = new Float64Array(nodes);
  const open = new Uint8Array(nodes);

  for (let t = 0; t < nTrees; t++) {
    for (let i = 0; i < n; i++) resid[i] = y[i]! - pred[i]!;
    const tree: Tree = { feature: new Int32Array(nodes).fill(-1), threshold: new Float64Array(nodes), value: new Float64Array(nodes) };
    nodeOf.fill(0);
    open.fill(0);
    open[0] = 1;
    for (let level = 0; level < depth; level++) {
      cnt.fill(0);
      tot.fill(0);
      for (let i = 0; i < n; i++) {
        cnt[nodeOf[i]!]++;
        tot[nodeOf[i]!] += resid[i]!;
      }
      bestGain.fill(0);
      bestFeature.fill(-1);
      for (let f = 0; f < d; f++) {
        const vals = sorted[f]!;
        const ord = order[f]!;
        cntL.fill(0);
        sumL.fill(0);
        for (let k = 0; k < n; k++) {
          const i = ord[k]!;
          const node = nodeOf[i]!;
          if (!open[node]) continue;
          const v = vals[k]!;
          const c = cntL[node]!;
          // A split between equal values cannot separate them: only evaluate where the value rises.
          if (c > 0 && v > last[node]!) {
            const s = sumL[node]!;
            const C = cnt[node]!;
            const S = tot[node]!;
            const gain = (s * s) / c + ((S - s) * (S - s)) / (C - c) - (S * S) / C;
            if (gain > bestGain[node]! + 1e-12 * Math.abs(bestGain[node]!)) {
              bestGain[node] = gain;
              bestFeature[node] = f;
              bestThreshold[node] = (last[node]! + v) / 2;
            }
          }
          cntL[node] = c + 1;
          sumL[node] += resid[i]!;
          last[node] = v;
        }
      }
      const children: number[] = [];
      for (let node = 0; node < nodes; node++) {
        if (!open[node]) continue;
        open[node] = 0;
        const f = bestFeature[node]!;
        if (f < 0 || !(bestGain[node]! > 1e-12)) continue;
        tree.feature[node] = f;
        tree.threshold[node] = bestThreshold[node]!;
        importances[f] += bestGain[node]!;
        children.push(2 * node + 1, 2 * node + 2);
      }
      if (!children.length) break;
      for (let i = 0; i < n; i++) {
        const node = nodeOf[i]!;
        const f = tree.feature[node]!;
        if (f >= 0) nodeOf[i] = X[f]![i]! <= tree.threshold[node]! ? 2 * node + 1 : 2 * node + 2;
      }
      for (const c of children) open[c] = 1;
    }
    // Leaf values: the mean residual of the samples that end there (the squared-loss Newton step).
    cnt.fill(0);
    tot.fill(0);
    for (let i = 0; i < n; i++) {
      cnt[nodeOf[i]!]++;
      tot[nodeOf[i]!] += resid[i]!;
    }
    for (let node = 0; node < nodes; node++) tree.value[node] = cnt[node]! > 0 ? (learningRate * tot[node]!) / cnt[node]! : 0;
    for (let i = 0; i < n; i++) pred[i] += tree.value[nodeOf[i]!]!;
    trees.push(tree);
  }
  const total = importances.reduce((a, b) => a + b, 0);
  if (total > 0) for (let f = 0; f < d; f++) importances[f] /= total;

  return {
    importances,
    predict(cols) {
      if (cols.length !== d) throw new Error(`GbtModel.predict: expected ${d} feature columns, got ${cols.length}`);
      const m = cols[0]!.length;
      checkColumns(cols, m, 'GbtModel.predict');
      const out = new Float64Array(m).fill(base);
      for (const tree of trees) {
        for (let i = 0; i < m; i++) {
          let node = 0;
          while (tree.feature[node]! >= 0) node = cols[tree.feature[node]!]![i]! <= tree.threshold[node]! ? 2 * node + 1 : 2 * node + 2;
          out[i] += tree.value[node]!;
        }
      }
      return out;
    },
  };
}
