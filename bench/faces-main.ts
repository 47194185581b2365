// Runs the face-renderer benchmark alone: node scripts/run.mjs bench/faces-main.ts
import { initEngine } from '../src/node.js';
import { benchFaces } from './faces.js';

const engine = await initEngine();
console.log(engine.report);
const { text } = await benchFaces(engine);
console.log(text);
engine.destroy();
