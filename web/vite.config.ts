// The dashboard's build: `npm run build:web` (vite build web) writes web/dist/, which `mailshift serve`
// serves at /. No React plugin: Vite's esbuild compiles JSX with the automatic runtime.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npx vite web` during development: the API of a local `mailshift serve`.
    proxy: { '/api': 'http://127.0.0.1:8025' },
  },
});
