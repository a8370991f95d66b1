// meshgate_aead: ChaCha20-Poly1305 (RFC 8439) for the packet path and X25519
// (RFC 7748) for handshakes, from the OpenSSL that Node.js itself carries and
// exports (the library behind node:crypto). No crypto is implemented here:
// this addon only calls OpenSSL's EVP interface, and it knows nothing of
// WireGuard (no framing, counters or sessions). The TypeScript side is
// shared/io/native-aead.ts; the protocol core reaches it through the
// AeadBackend and X25519Backend of shared/wireguard/crypto.ts.
//
// This unit: the module's exports, its per-environment instance data (the
// OpenSSL contexts, so each worker thread has its own) and the argument
// helpers; the primitives are in aead.c, blake2s.c and x25519.c.

#include "meshgate_crypto.h"
#include "../napi_args.h"

void free_state(napi_env env, void *data, void *hint) {
  aead_state *st = data;
  EVP_CIPHER_CTX_free(st->seal);
  EVP_CIPHER_CTX_free(st->open);
  EVP_MD_CTX_free(st->hash);
  EVP_MD_free(st->blake2s);
  EVP_MAC_CTX_free(st->hmac);
  EVP_MAC_CTX_free(st->mac);
  EVP_KDF_CTX_free(st->expand);
  EVP_PKEY_CTX_free(st->x25519);
  free(st);
}

napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

/* The call's first `n` arguments into argv[0..n); throws `usage` when there are fewer. */
bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < n) return throw_type(env, usage), false;
  return true;
}

/* A Uint8Array (or Buffer) argument: its bytes and length. */
bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  void *ptr = NULL;
  if (!napi_args_typed(env, v, napi_uint8_array, &ptr, len)) return false;
  *data = ptr;
  return true;
}

/* A Uint8Array of exactly `len` bytes. */
bool get_sized_bytes(napi_env env, napi_value v, size_t len, uint8_t **data) {
  size_t n;
  return get_bytes(env, v, data, &n) && n == len;
}

/* null/undefined, or a Uint8Array. */
bool get_optional_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_null || t == napi_undefined) {
    *data = NULL;
    *len = 0;
    return true;
  }
  return get_bytes(env, v, data, len);
}

aead_state *get_state(napi_env env) {
  aead_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || st == NULL)
    return throw_type(env, "meshgate_aead: not initialised"), NULL;
  return st;
}

NAPI_MODULE_INIT() {
  aead_state *st = calloc(1, sizeof *st);
  if (st == NULL) return throw_type(env, "meshgate_aead: out of memory");
  st->seal = new_ctx(true);
  st->open = new_ctx(false);
  if (st->seal == NULL || st->open == NULL) {
    free_state(env, st, NULL);
    return throw_type(env, "meshgate_aead: OpenSSL has no ChaCha20-Poly1305 here");
  }
  if (!init_blake2s(st)) {
    free_state(env, st, NULL);
    return throw_type(env, "meshgate_aead: OpenSSL has no BLAKE2s here");
  }
  st->x25519 = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL);
  if (st->x25519 == NULL) {
    free_state(env, st, NULL);
    ERR_clear_error();
    return throw_type(env, "meshgate_aead: OpenSSL has no X25519 here");
  }
  if (napi_set_instance_data(env, st, free_state, NULL) != napi_ok) {
    free_state(env, st, NULL);
    return throw_type(env, "meshgate_aead: cannot keep instance data");
  }
  napi_property_descriptor props[] = {
      NAPI_ARGS_METHOD("seal", js_seal),
      NAPI_ARGS_METHOD("open", js_open),
      NAPI_ARGS_METHOD("x25519Import", js_x25519_import),
      NAPI_ARGS_METHOD("x25519PublicKey", js_x25519_public_key),
      NAPI_ARGS_METHOD("x25519", js_x25519),
      NAPI_ARGS_METHOD("x25519Release", js_x25519_release),
      NAPI_ARGS_METHOD("blake2s", js_blake2s),
      NAPI_ARGS_METHOD("hmacBlake2s", js_hmac_blake2s),
      NAPI_ARGS_METHOD("blake2sMac", js_blake2s_mac),
      NAPI_ARGS_METHOD("hkdfBlake2s", js_hkdf_blake2s),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_args_set_u32(env, exports, "apiVersion", API_VERSION);
  napi_value v;
  napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "openssl", v);
  return exports;
}
