// `npm run bench -- NAME [--json FILE] [--no-tfjs]`: measured, never asserted.
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { initEngine } from '../src/node.js';
import { benchMatmul } from './matmul.js';

const benches: Record<string, string> = {
  matmul: 'GFLOP/s of our matmul vs tfjs-backend-webgpu at 256^3, 1024^3, 2048^3',
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'string' },
    'no-tfjs': { type: 'boolean', default: false },
    sizes: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const name = positionals[0];
if (values.help || !name || !(name in benches)) {
  console.log('usage: npm run bench -- NAME [--json FILE] [--no-tfjs] [--sizes 256,1024]\n');
  for (const [k, v] of Object.entries(benches)) console.log(`  ${k.padEnd(10)} ${v}`);
  process.exit(values.help ? 0 : name ? 2 : 0);
}

const engine = await initEngine();
console.log(`adapter: ${engine.report}`);
const started = new Date().toISOString();
let result: { rows: unknown[]; text: string };
switch (name) {
  case 'matmul':
  default:
    result = await benchMatmul(engine, values.sizes?.split(',').map(Number) ?? undefined, !values['no-tfjs']);
}
console.log(`\n${result.text}\n`);
if (values.json) {
  writeFileSync(values.json, JSON.stringify({ bench: name, date: started, adapter: engine.report, rows: result.rows }, null, 2));
  console.log(`wrote ${values.json}`);
}
engine.destroy();
process.exit(0);
