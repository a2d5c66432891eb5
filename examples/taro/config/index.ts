import { defineConfig } from '@tarojs/cli';

// The Wafer business server the page talks to: `npm run stack` serves Wafer 1 on port 8803.
const server = process.env.WAFER_EXAMPLE_SERVER || 'http://127.0.0.1:8803';

export default defineConfig<'webpack5'>({
  projectName: 'wafer-wasm-example-taro',
  date: '2025-1-1',
  designWidth: 750,
  deviceRatio: { 640: 2.34 / 2, 750: 1, 375: 2, 828: 1.81 / 2 },
  sourceRoot: 'src',
  outputRoot: 'dist',
  // Puts wafer-wasm's wasm into dist/ where `import wafer from 'wafer-wasm'` loads it from.
  plugins: ['wafer-wasm/taro'],
  defineConstants: {
    WAFER_EXAMPLE_SERVER: JSON.stringify(server),
  },
  framework: 'react',
  compiler: 'webpack5',
  cache: { enable: false },
  mini: {
    postcss: {
      pxtransform: { enable: true, config: {} },
      cssModules: { enable: false },
    },
  },
});
