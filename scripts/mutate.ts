// Plants each bug of scripts/mutants.ts, one at a time, in a scratch copy of the repository's
// tracked files and runs the test files meant to catch it: "caught" when they fail, "survived"
// when they pass. The working tree is never touched. The unmutated copy must pass first.
//
//   npx tsx scripts/mutate.ts [--only name,name] [--keep] [--timeout SECONDS]
//
// Slow (each mutant runs vitest; on two CPU cores with lavapipe, about ten minutes in all):
// run it niced, by hand, not in CI.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MUTANTS, type Mutant } from './mutants.js';

const { values: a } = parseArgs({
  options: { only: { type: 'string' }, keep: { type: 'boolean' }, timeout: { type: 'string' } },
  strict: true,
});
const root = resolve(import.meta.dirname, '..');
const timeoutS = Number(a.timeout ?? 600);
const only = a.only?.split(',');
const mutants = only ? MUTANTS.filter((m) => only.includes(m.name)) : MUTANTS;
if (only && mutants.length !== only.length) {
  console.error(`unknown mutant in --only: ${only.filter((n) => !MUTANTS.some((m) => m.name === n)).join(', ')}`);
  process.exit(2);
}

// The copy: tracked files as they are in the working tree (edits included), node_modules linked.
const copy = mkdtempSync(join(tmpdir(), 'dcign-mutants-'));
const tracked = spawnSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).stdout.split('\0').filter(Boolean);
for (const f of tracked) {
  mkdirSync(dirname(join(copy, f)), { recursive: true });
  cpSync(join(root, f), join(copy, f));
}
symlinkSync(realpathSync(join(root, 'node_modules')), join(copy, 'node_modules'));

function runTests(files: string[]): { ok: boolean; seconds: number; tail: string; by: string } {
  const t0 = performance.now();
  const r = spawnSync('npx', ['vitest', 'run', '--bail=1', ...files], {
    cwd: copy, encoding: 'utf8', timeout: timeoutS * 1000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  // The first failing test, as vitest names it: "FAIL  test/x.test.ts > describe > it".
  const by = /FAIL\s+test\/(\S+\.test\.ts) > (.*)/.exec(text);
  const what = r.status === null ? `timed out after ${timeoutS} s` : by ? `${by[1]}: ${by[2]!.trim()}` : '';
  return { ok: r.status === 0, seconds: (performance.now() - t0) / 1000, tail: text.slice(-3000), by: what };
}

function plant(m: Mutant): string | null {
  const path = join(copy, m.file);
  const text = readFileSync(path, 'utf8');
  const n = text.split(m.find).length - 1;
  if (n !== 1) return `stale: the text to replace occurs ${n} times in ${m.file}`;
  writeFileSync(path, text.replace(m.find, () => m.replace));
  return null;
}

let failed = false;
try {
  const files = [...new Set(mutants.flatMap((m) => m.tests))].sort();
  process.stdout.write(`baseline: ${files.length} test files on the unmutated copy ... `);
  const base = runTests(files);
  console.log(`${base.ok ? 'pass' : 'FAIL'} (${base.seconds.toFixed(0)} s)`);
  if (!base.ok) {
    console.log(base.tail);
    throw new Error('the unmutated copy fails its tests; fix that first');
  }
  const rows: string[][] = [];
  for (const m of mutants) {
    const original = readFileSync(join(copy, m.file), 'utf8');
    const stale = plant(m);
    let result: string;
    let seconds = 0;
    let by = '';
    if (stale) {
      result = stale;
      failed = true;
    } else {
      const r = runTests(m.tests);
      seconds = r.seconds;
      result = r.ok ? 'SURVIVED' : 'caught';
      by = r.by;
      if (r.ok) failed = true;
      writeFileSync(join(copy, m.file), original);
    }
    const row = [m.name, m.bug, m.file, m.tests.map((t) => t.replace(/^test\//, '')).join(', '), result, by, seconds.toFixed(0)];
    rows.push(row);
    console.log(`${result.padEnd(8)} ${m.name} (${m.file}; ${row[3]}) ${row[6]} s${by ? `\n         by ${by}` : ''}`);
  }
  const caught = rows.filter((r) => r[4] === 'caught').length;
  console.log(`\n${caught} of ${rows.length} caught\n`);
  console.log('| mutant | planted bug | file | tests run | result | first failing test | s |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
} finally {
  if (a.keep) console.log(`scratch copy kept at ${copy}`);
  else rmSync(copy, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
