import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'jsdom',
    include: ['src/**/__tests__/**/*.spec.ts'],
    // @jupyter-widgets/* and @jupyterlab/* ship ESM with extension-less imports + CSS imports:
    // let vite transform them instead of loading them with Node's strict ESM loader.
    server: { deps: { inline: [/@jupyter-widgets\//, /@jupyterlab\//, /@lumino\//] } },
    setupFiles: ['src/__tests__/setup.ts'],
    css: false
  }
});
