/*
 * gliner-tf's optional native matrix products: single-precision GEMM from the system BLAS
 * (OpenBLAS on Linux, Accelerate on macOS) run directly on tensors that live in the wasm
 * backend's heap. JavaScript passes a Float32Array over the whole heap and float offsets into it,
 * so nothing is copied: the product reads the operands and writes the output in place.
 *
 * The CBLAS prototypes are declared here rather than taken from a header: their ABI is the
 * standard one, and header locations differ between distributions.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };
extern void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
#ifndef GLINER_ACCELERATE
extern void openblas_set_num_threads(int n);
extern int openblas_get_num_threads(void);
extern char *openblas_get_corename(void);
#endif

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "GLINER_NATIVE", "native call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, data, &buffer, &offset) != napi_ok || type != want) return 0;
  return 1;
}

/*
 * gemmBatch(heap, aOff, bOff, outOff, m, k, n, transA, transB, aIndex, bIndex)
 *   heap: Float32Array over the wasm heap; *Off: float offsets of the operands' first elements.
 *   a is [batchA, m, k] (or [batchA, k, m] when transA), b is [batchB, k, n] (or [batchB, n, k]),
 *   out is [batchOut, m, n]. aIndex / bIndex (Int32Array, batchOut entries) name the operand
 *   slice each output slice reads, which is how broadcasting reaches the C side.
 */
static napi_value GemmBatch(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 11) {
    napi_throw_type_error(env, "GLINER_NATIVE", "gemmBatch takes 11 arguments");
    return NULL;
  }
  float *heap;
  size_t heap_len;
  if (!typed_array(env, argv[0], napi_float32_array, (void **)&heap, &heap_len)) {
    napi_throw_type_error(env, "GLINER_NATIVE", "gemmBatch: heap must be a Float32Array");
    return NULL;
  }
  double v[8];
  for (int i = 0; i < 8; i++) CHECK(napi_get_value_double(env, argv[i + 1], &v[i]));
  int32_t *a_index, *b_index;
  size_t batch, batch_b;
  if (!typed_array(env, argv[9], napi_int32_array, (void **)&a_index, &batch) ||
      !typed_array(env, argv[10], napi_int32_array, (void **)&b_index, &batch_b) || batch != batch_b) {
    napi_throw_type_error(env, "GLINER_NATIVE", "gemmBatch: aIndex and bIndex must be Int32Arrays of one length");
    return NULL;
  }
  const double a_off = v[0], b_off = v[1], out_off = v[2];
  const int m = (int)v[3], k = (int)v[4], n = (int)v[5];
  const int trans_a = v[6] != 0, trans_b = v[7] != 0;
  const double mk = (double)m * k, kn = (double)k * n, mn = (double)m * n;
  /* Every slice must lie inside the heap: a wrong offset is an error, never a stray write. */
  int32_t max_a = 0, max_b = 0;
  for (size_t o = 0; o < batch; o++) {
    if (a_index[o] < 0 || b_index[o] < 0) {
      napi_throw_range_error(env, "GLINER_NATIVE", "gemmBatch: negative slice index");
      return NULL;
    }
    if (a_index[o] > max_a) max_a = a_index[o];
    if (b_index[o] > max_b) max_b = b_index[o];
  }
  if (m <= 0 || k <= 0 || n <= 0 || a_off < 0 || b_off < 0 || out_off < 0 ||
      a_off + (max_a + 1) * mk > (double)heap_len || b_off + (max_b + 1) * kn > (double)heap_len ||
      out_off + batch * mn > (double)heap_len) {
    napi_throw_range_error(env, "GLINER_NATIVE", "gemmBatch: operands outside the heap or empty");
    return NULL;
  }
  const int lda = trans_a ? m : k;
  const int ldb = trans_b ? k : n;
  for (size_t o = 0; o < batch; o++) {
    cblas_sgemm(ROW_MAJOR, trans_a ? TRANS : NO_TRANS, trans_b ? TRANS : NO_TRANS, m, n, k, 1.0f,
                heap + (size_t)(a_off + a_index[o] * mk), lda, heap + (size_t)(b_off + b_index[o] * kn), ldb,
                0.0f, heap + (size_t)(out_off + o * mn), n);
  }
  return NULL;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t n = 1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc == 1) CHECK(napi_get_value_int32(env, argv[0], &n));
#ifndef GLINER_ACCELERATE
  if (n > 0) openblas_set_num_threads(n);
#endif
  return NULL;
}

/* Which BLAS and kernel this is, for `gliner-tf info`. */
static napi_value Describe(napi_env env, napi_callback_info info) {
  char text[256];
#ifdef GLINER_ACCELERATE
  snprintf(text, sizeof text, "Accelerate");
#else
  snprintf(text, sizeof text, "OpenBLAS (%s kernels, %d threads)", openblas_get_corename(), openblas_get_num_threads());
#endif
  napi_value s;
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &s));
  return s;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "gemmBatch", NAPI_AUTO_LENGTH, GemmBatch, NULL, &fn);
  napi_set_named_property(env, exports, "gemmBatch", fn);
  napi_create_function(env, "setThreads", NAPI_AUTO_LENGTH, SetThreads, NULL, &fn);
  napi_set_named_property(env, exports, "setThreads", fn);
  napi_create_function(env, "describe", NAPI_AUTO_LENGTH, Describe, NULL, &fn);
  napi_set_named_property(env, exports, "describe", fn);
  return exports;
}
