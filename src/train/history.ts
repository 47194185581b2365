// Options a run changed on --resume, as the checkpoint keeps them. Browser-safe: eval's report
// reads them from metrics.json.

/** At `step`, each named option went from [0] to [1]. */
export interface OptionChange {
  step: number;
  changed: Record<string, [unknown, unknown]>;
}

/** "procedure random -> clamped, lr 0.0005 -> 0.001" */
export function describeChange(c: OptionChange): string {
  return Object.entries(c.changed).map(([k, [from, to]]) => `${k} ${String(from)} -> ${String(to)}`).join(', ');
}
