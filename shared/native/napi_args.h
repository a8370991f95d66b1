// N-API helpers shared by both addons (io/ and crypto/): reading arguments and
// filling the exports object. Static inline, no state, nothing thrown; each
// caller picks its own error message.
#ifndef MESHGATE_NAPI_ARGS_H
#define MESHGATE_NAPI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <node_api.h>

/* A typed array of element type `want`: its data and element count. False otherwise. */
static inline bool napi_args_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data,
                                   size_t *count) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type t;
  size_t n;
  void *d;
  if (napi_get_typedarray_info(env, v, &t, &n, &d, NULL, NULL) != napi_ok || t != want) return false;
  if (n > 0 && d == NULL) return false;
  *data = d;
  *count = n;
  return true;
}

/* One entry of an exports table: the function `fn` under the JS name `name`. */
#define NAPI_ARGS_METHOD(name, fn) {(name), NULL, (fn), NULL, NULL, NULL, napi_enumerable, NULL}

/* obj[key] = value (an exported constant such as apiVersion). */
static inline void napi_args_set_u32(napi_env env, napi_value obj, const char *key, uint32_t value) {
  napi_value v;
  if (napi_create_uint32(env, value, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

#endif
