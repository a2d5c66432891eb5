export default definePageConfig({
  navigationBarTitleText: 'wafer-wasm',
});
