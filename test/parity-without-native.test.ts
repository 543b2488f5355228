/**
 * The parity suites once more on wasm with the native matrix path switched off, so both ways a
 * product can run (native BLAS and XNNPACK) are held to the reference numbers. Where the addon is
 * not built, the main run already is the XNNPACK path and this file has nothing to add.
 * (Jest gives each test file its own module registry and process.env: nothing leaks out.)
 */
import { nativeMatMulState, setNativeMatMul } from '../src/kernels/native-blas';

if (nativeMatMulState().available) {
  setNativeMatMul(false);
  process.env.GLINER_TF_TEST_BACKENDS = 'wasm';
  require('./parity.test');
  require('./training-parity.test');
} else {
  test.skip(`native matrix path not built (${nativeMatMulState().detail}): the other parity files cover XNNPACK`, () => undefined);
}
