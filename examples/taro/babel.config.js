// babel-preset-taro: React, TypeScript, webpack 5.
module.exports = {
  presets: [['taro', { framework: 'react', ts: true, compiler: 'webpack5' }]],
};
