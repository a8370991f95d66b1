// meshgate_aead: X25519 (RFC 7748) takes raw 32-byte keys (EVP_PKEY_new_raw_*), because node:crypto
// only imports them through DER or JWK, and its DER decoder cost ten times the
// scalar multiplication itself. A private key is imported once into a key
// object (an N-API external with a type tag) that holds the EVP_PKEY and a
// derive context for it, so our static key is not re-imported per handshake:
//
//   x25519Import(privateKey) -> key       (OpenSSL computes the public key here)
//   x25519PublicKey(key, out)             out[0..32] = the public key
//   x25519(key, publicKey, out) -> bool   out[0..32] = X25519(key, publicKey);
//        false, and out zeroed, when the result is all zeros (a low-order
//        point, RFC 7748 section 6.1) or OpenSSL refuses the point
//   x25519Release(key)                    frees (and so cleanses) the key now;
//        later use throws, a second release does nothing. Unreleased keys are
//        freed when collected.

#include "meshgate_crypto.h"

typedef struct {
  EVP_PKEY *pkey;     /* NULL once released */
  EVP_PKEY_CTX *ctx;  /* derive context of pkey, reused for every derive */
} x25519_key;

static const napi_type_tag X25519_KEY_TAG = {0x6d657368676174ULL, 0x7832353531396bULL};

static void x25519_key_clear(x25519_key *k) {
  EVP_PKEY_CTX_free(k->ctx);
  EVP_PKEY_free(k->pkey); /* OpenSSL cleanses the private key when freeing it */
  k->ctx = NULL;
  k->pkey = NULL;
}

static void x25519_key_finalize(napi_env env, void *data, void *hint) {
  x25519_key_clear(data);
  free(data);
}

#define NOT_A_KEY "key must be an X25519 key from x25519Import"

/* The key behind a key object of this addon (released or not); NULL, nothing thrown, for anything else. */
static x25519_key *unwrap_key(napi_env env, napi_value v) {
  napi_valuetype t;
  bool tagged = false;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &X25519_KEY_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &data) != napi_ok)
    return NULL;
  return data;
}

/* The key object argument: a live x25519 key of this addon. Throws and returns NULL otherwise. */
static x25519_key *get_key(napi_env env, napi_value v) {
  x25519_key *k = unwrap_key(env, v);
  if (k == NULL) return throw_type(env, NOT_A_KEY), NULL;
  if (k->pkey == NULL) return throw_type(env, "the X25519 key was released"), NULL;
  return k;
}

/*
 * A raw X25519 key as an EVP_PKEY (the same as EVP_PKEY_new_raw_private_key /
 * _public_key, through a key-management context fetched once: the public
 * import per DH costs a third). For a private key OpenSSL also computes the
 * public key.
 */
static EVP_PKEY *import_raw(aead_state *st, const uint8_t *raw, bool private_key) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(private_key ? OSSL_PKEY_PARAM_PRIV_KEY : OSSL_PKEY_PARAM_PUB_KEY,
                                        (void *)raw, KEY_LEN),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY *pkey = NULL;
  if (EVP_PKEY_fromdata_init(st->x25519) != 1 ||
      EVP_PKEY_fromdata(st->x25519, &pkey, private_key ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
    return NULL;
  return pkey;
}


napi_value js_x25519_import(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint8_t *raw;
  if (!get_args(env, info, 1, argv, "privateKey must be a 32-byte Uint8Array")) return NULL;
  if (!get_sized_bytes(env, argv[0], KEY_LEN, &raw)) return throw_type(env, "privateKey must be a 32-byte Uint8Array");
  aead_state *st = get_state(env);
  if (st == NULL) return NULL;
  x25519_key *k = calloc(1, sizeof *k);
  if (k == NULL) return throw_type(env, "meshgate_aead: out of memory");
  k->pkey = import_raw(st, raw, true);
  if (k->pkey != NULL) k->ctx = EVP_PKEY_CTX_new(k->pkey, NULL);
  if (k->ctx == NULL) {
    x25519_key_clear(k);
    free(k);
    ERR_clear_error();
    return throw_type(env, "OpenSSL X25519 key import failed");
  }
  napi_value result;
  if (napi_create_external(env, k, x25519_key_finalize, NULL, &result) != napi_ok) {
    x25519_key_finalize(env, k, NULL);
    return throw_type(env, "meshgate_aead: cannot create the key object");
  }
  if (napi_type_tag_object(env, result, &X25519_KEY_TAG) != napi_ok)
    return throw_type(env, "meshgate_aead: cannot tag the key object");
  return result;
}

napi_value js_x25519_public_key(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  uint8_t *out;
  if (!get_args(env, info, 2, argv, "expected (key, out)")) return NULL;
  x25519_key *k = get_key(env, argv[0]);
  if (k == NULL) return NULL;
  if (!get_sized_bytes(env, argv[1], KEY_LEN, &out)) return throw_type(env, "out must be a 32-byte Uint8Array");
  size_t len = KEY_LEN;
  if (EVP_PKEY_get_raw_public_key(k->pkey, out, &len) != 1 || len != KEY_LEN) {
    ERR_clear_error();
    return throw_type(env, "OpenSSL X25519 public key failed");
  }
  return NULL;
}

static bool all_zero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++) acc |= p[i];
  return acc == 0;
}

napi_value js_x25519(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint8_t *pub, *out;
  if (!get_args(env, info, 3, argv, "expected (key, publicKey, out)")) return NULL;
  aead_state *st = get_state(env);
  if (st == NULL) return NULL;
  x25519_key *k = get_key(env, argv[0]);
  if (k == NULL) return NULL;
  if (!get_sized_bytes(env, argv[1], KEY_LEN, &pub)) return throw_type(env, "publicKey must be a 32-byte Uint8Array");
  if (!get_sized_bytes(env, argv[2], KEY_LEN, &out)) return throw_type(env, "out must be a 32-byte Uint8Array");
  EVP_PKEY *peer = import_raw(st, pub, false);
  size_t len = KEY_LEN;
  bool ok = peer != NULL && EVP_PKEY_derive_init(k->ctx) == 1;
  /* No peer check: an X25519 public key has none beyond its length, and the
   * all-zero result below is the test that matters (RFC 7748 section 6.1). */
  if (ok) ok = EVP_PKEY_derive_set_peer_ex(k->ctx, peer, 0) == 1;
  /* OpenSSL itself refuses an all-zero shared secret; both ways end here. */
  if (ok) ok = EVP_PKEY_derive(k->ctx, out, &len) == 1 && len == KEY_LEN && !all_zero(out, KEY_LEN);
  EVP_PKEY_free(peer);
  if (!ok) {
    OPENSSL_cleanse(out, KEY_LEN);
    ERR_clear_error();
  }
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

napi_value js_x25519_release(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NOT_A_KEY)) return NULL;
  x25519_key *k = unwrap_key(env, argv[0]);
  if (k == NULL) return throw_type(env, NOT_A_KEY);
  x25519_key_clear(k); /* idempotent: releasing a released key does nothing */
  return NULL;
}
