'use strict';
// examples/taro: Taro 4 (React, webpack 5, TypeScript), `taro build --type weapp`.
require('./suite').exampleSuite('taro', { tsconfigs: ['tsconfig.json'], word: 'hello from Taro' });
