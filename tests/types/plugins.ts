// The bundler plugins' typings as a build configuration uses them (the Vite plugin is
// checked by examples/uni-app's vite.config.ts, where Vite's own types are installed).

import waferWasmTaroPlugin = require('wafer-wasm/taro');
import { WaferWasmPlugin, ASSET_NAME } from 'wafer-wasm/webpack';

const plugins: Array<{ apply(compiler: unknown): void }> = [new WaferWasmPlugin()];
const asset: string = ASSET_NAME;
waferWasmTaroPlugin({ modifyWebpackChain: (fn) => fn({ chain: { plugin: () => ({ use: () => undefined }) } }) });

export { plugins, asset };
