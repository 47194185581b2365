// WGSL sources are imported as text: esbuild's `text` loader, and a small Vite plugin for tests.
declare module '*.wgsl' {
  const source: string;
  export default source;
}
