'use strict';
// examples/uni-app: uni-app (Vue 3, Vite), `uni build -p mp-weixin`.
require('./suite').exampleSuite('uni-app', { tsconfigs: ['tsconfig.json', 'tsconfig.node.json'], word: 'hello from uni-app' });
