// Vite build of the chatd web client (static files in dist/, served by serve.mjs).
// GraphiQL (/graphiql) is a lazily loaded chunk with the Monaco editor and its
// workers (graphiql/setup-workers/vite): several MB the chat screens never load.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    sourcemap: true,
    chunkSizeWarningLimit: 3000, // the Monaco editor chunk of GraphiQL
    rollupOptions: {
      onwarn(warning, warn) {
        // GraphiQL's React-compiler directives ("use no memo") are hints only
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  // GraphiQL's Monaco workers import chunks: ES module workers (Vite 5's default is iife)
  worker: { format: 'es' },
  server: { port: 3000 },
});
