import { defineConfig } from 'vite';
import uni from '@dcloudio/vite-plugin-uni';
import waferWasm from 'wafer-wasm/vite';

// The Wafer business server the page talks to: `npm run stack` serves Wafer 1 on port 8803.
const server = process.env.WAFER_EXAMPLE_SERVER || 'http://127.0.0.1:8803';

export default defineConfig({
  // waferWasm(): puts wafer-wasm's wasm into the build where `import wafer from 'wafer-wasm'` loads it from.
  plugins: [uni(), waferWasm()],
  define: {
    WAFER_EXAMPLE_SERVER: JSON.stringify(server),
  },
});
