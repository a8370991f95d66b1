// meshgate_aead: ChaCha20-Poly1305 (RFC 8439) for the packet path and X25519
// (RFC 7748) for handshakes, from the OpenSSL that Node.js itself carries and
// exports (the library behind node:crypto). No crypto is implemented here:
// this file only calls OpenSSL's EVP interface, and it knows nothing of
// WireGuard (no framing, counters or sessions). The TypeScript side is
// shared/io/native-aead.ts; the protocol core reaches it through the
// AeadBackend and X25519Backend of shared/wireguard/crypto.ts.
//
// Why: node:crypto builds a Cipheriv object (and a fresh output Buffer, and a
// tag Buffer) for every packet; in the tunnel benchmark that object set-up and
// the garbage it leaves took about as much CPU as the cipher itself. Here each
// call re-keys one long-lived EVP_CIPHER_CTX per direction and writes into
// the caller's buffer.
//
//   seal(key, nonce, ad|null, plaintext, out, outOffset) -> bytes written
//        out[outOffset ..] = ciphertext || 16-byte tag
//   open(key, nonce, ad|null, sealed, out, outOffset) -> plaintext length, or
//        -1 when the tag does not verify (out may then hold garbage)
//
// `out` may be the very bytes of the input (in place) or apart from them;
// a partial overlap is refused. Bad arguments throw TypeError/RangeError;
// nothing is read or written out of bounds. The contexts live in the addon's
// per-environment instance data, so each worker thread has its own.
//
// BLAKE2s for the handshake (WireGuard paper section 5.4: HASH, HMAC, MAC),
// with contexts kept in the instance data; each writes into `out`:
//
//   blake2s(a, b|null, out)           out[0..32] = BLAKE2s-256(a || b)
//   hmacBlake2s(key, a, b|null, out)  out[0..32] = HMAC-BLAKE2s-256(key, a || b)
//   blake2sMac(key, data, out)        out[0..16] = keyed BLAKE2s, 16-byte output
//        (key 1..32 bytes; OpenSSL's BLAKE2SMAC)
//   hkdfBlake2s(key, input, out)      out = T1 || .. || Tn (32, 64 or 96 bytes):
//        HKDF (RFC 5869) over HMAC-BLAKE2s with salt `key`, IKM `input` and
//        empty info, as Noise uses it. Extract is one HMAC (the context
//        above); Expand is OpenSSL's (EVP_KDF "HKDF", mode EXPAND_ONLY). The
//        pseudo-random key is cleansed. One call instead of up to four HMACs.
//
// X25519 takes raw 32-byte keys (EVP_PKEY_new_raw_*), because node:crypto
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

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#define API_VERSION 3 /* AEAD_API_VERSION in shared/io/native-aead.ts */
#define KEY_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16

typedef struct {
  EVP_CIPHER_CTX *seal;
  EVP_CIPHER_CTX *open;
  EVP_MD *blake2s;      /* BLAKE2S-256, fetched once */
  EVP_MD_CTX *hash;     /* re-initialised per hash */
  EVP_MAC_CTX *hmac;    /* HMAC over BLAKE2S-256; re-keyed per call */
  EVP_MAC_CTX *mac;     /* BLAKE2SMAC with a 16-byte output; re-keyed per call */
  EVP_KDF_CTX *expand;  /* HKDF-Expand over BLAKE2S-256; given the PRK per call */
  EVP_PKEY_CTX *x25519; /* imports raw X25519 keys (EVP_PKEY_fromdata), fetched once */
} aead_state;

static void free_state(napi_env env, void *data, void *hint) {
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

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

/* A Uint8Array (or Buffer) argument: its bytes and length. */
static bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  napi_typedarray_type type;
  void *ptr = NULL;
  if (napi_get_typedarray_info(env, v, &type, len, &ptr, NULL, NULL) != napi_ok) return false;
  if (type != napi_uint8_array) return false;
  *data = ptr;
  return true;
}

/* null/undefined, or a Uint8Array. */
static bool get_optional_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_null || t == napi_undefined) {
    *data = NULL;
    *len = 0;
    return true;
  }
  return get_bytes(env, v, data, len);
}

/* Same bytes or apart: fine. Partly overlapping: refused. */
static bool overlap_ok(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len) {
  if (in == out || in_len == 0 || out_len == 0) return true;
  return in + in_len <= out || out + out_len <= in;
}

typedef struct {
  aead_state *st;
  uint8_t *key, *nonce, *ad, *in, *out;
  size_t key_len, nonce_len, ad_len, in_len, out_len;
  uint32_t out_offset;
} aead_args;

/* Parses the six arguments shared by seal and open. Throws and returns false on bad ones. */
static bool parse_args(napi_env env, napi_callback_info info, aead_args *a) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < 6) return throw_type(env, "expected (key, nonce, ad, input, out, outOffset)"), false;
  if (napi_get_instance_data(env, (void **)&a->st) != napi_ok || a->st == NULL)
    return throw_type(env, "meshgate_aead: not initialised"), false;
  if (!get_bytes(env, argv[0], &a->key, &a->key_len) || a->key_len != KEY_LEN)
    return throw_type(env, "key must be a 32-byte Uint8Array"), false;
  if (!get_bytes(env, argv[1], &a->nonce, &a->nonce_len) || a->nonce_len != NONCE_LEN)
    return throw_type(env, "nonce must be a 12-byte Uint8Array"), false;
  if (!get_optional_bytes(env, argv[2], &a->ad, &a->ad_len))
    return throw_type(env, "ad must be a Uint8Array or null"), false;
  if (!get_bytes(env, argv[3], &a->in, &a->in_len)) return throw_type(env, "input must be a Uint8Array"), false;
  if (!get_bytes(env, argv[4], &a->out, &a->out_len)) return throw_type(env, "out must be a Uint8Array"), false;
  if (napi_get_value_uint32(env, argv[5], &a->out_offset) != napi_ok)
    return throw_type(env, "outOffset must be a non-negative integer"), false;
  if (a->in_len > INT32_MAX - TAG_LEN || a->ad_len > INT32_MAX) return throw_range(env, "input too large"), false;
  return true;
}

static napi_value js_seal(napi_env env, napi_callback_info info) {
  aead_args a;
  if (!parse_args(env, info, &a)) return NULL;
  size_t need = a.in_len + TAG_LEN;
  if (a.out_offset > a.out_len || a.out_len - a.out_offset < need)
    return throw_range(env, "out is too small for ciphertext and tag");
  uint8_t *dst = a.out + a.out_offset;
  if (!overlap_ok(a.in, a.in_len, dst, need)) return throw_range(env, "input and out overlap partly");
  EVP_CIPHER_CTX *ctx = a.st->seal;
  int n = 0, m = 0;
  bool ok = EVP_EncryptInit_ex(ctx, NULL, NULL, a.key, a.nonce) == 1;
  if (ok && a.ad_len > 0) ok = EVP_EncryptUpdate(ctx, NULL, &n, a.ad, (int)a.ad_len) == 1;
  n = 0;
  if (ok && a.in_len > 0) ok = EVP_EncryptUpdate(ctx, dst, &n, a.in, (int)a.in_len) == 1;
  if (ok) ok = EVP_EncryptFinal_ex(ctx, dst + n, &m) == 1;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, dst + a.in_len) == 1;
  if (!ok || (size_t)(n + m) != a.in_len) return throw_type(env, "OpenSSL ChaCha20-Poly1305 seal failed");
  napi_value result;
  napi_create_uint32(env, (uint32_t)need, &result);
  return result;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  aead_args a;
  if (!parse_args(env, info, &a)) return NULL;
  napi_value result;
  if (a.in_len < TAG_LEN) {
    napi_create_int32(env, -1, &result);
    return result;
  }
  size_t body = a.in_len - TAG_LEN;
  if (a.out_offset > a.out_len || a.out_len - a.out_offset < body)
    return throw_range(env, "out is too small for the plaintext");
  uint8_t *dst = a.out + a.out_offset;
  if (!overlap_ok(a.in, body, dst, body)) return throw_range(env, "input and out overlap partly");
  uint8_t tag[TAG_LEN];
  memcpy(tag, a.in + body, TAG_LEN);
  EVP_CIPHER_CTX *ctx = a.st->open;
  int n = 0, m = 0;
  bool ok = EVP_DecryptInit_ex(ctx, NULL, NULL, a.key, a.nonce) == 1;
  if (ok) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) == 1;
  if (ok && a.ad_len > 0) ok = EVP_DecryptUpdate(ctx, NULL, &n, a.ad, (int)a.ad_len) == 1;
  n = 0;
  if (ok && body > 0) ok = EVP_DecryptUpdate(ctx, dst, &n, a.in, (int)body) == 1;
  /* Final fails when the tag does not verify: an ordinary outcome, not an error. */
  if (ok) ok = EVP_DecryptFinal_ex(ctx, dst + n, &m) == 1 && (size_t)(n + m) == body;
  napi_create_int32(env, ok ? (int32_t)body : -1, &result);
  return result;
}

static EVP_CIPHER_CTX *new_ctx(bool encrypt) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) return NULL;
  int ok = encrypt ? EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL)
                   : EVP_DecryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL);
  if (ok == 1) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL);
  if (ok != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* ----------------------------------------------------------------- BLAKE2s */

#define HASH_LEN 32
#define MAC_LEN 16
#define MAC_KEY_MAX 32

/* Up to four arguments: Uint8Arrays, the optional ones null; `out` of exactly out_len bytes last. */
typedef struct {
  aead_state *st;
  uint8_t *arg[3], *out;
  size_t len[3], out_len;
} hash_args;

static bool parse_hash_args(napi_env env, napi_callback_info info, size_t argc_want, size_t optional,
                            size_t out_len, hash_args *h) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < argc_want) return throw_type(env, "missing arguments"), false;
  if (napi_get_instance_data(env, (void **)&h->st) != napi_ok || h->st == NULL)
    return throw_type(env, "meshgate_aead: not initialised"), false;
  for (size_t i = 0; i + 1 < argc_want; i++) {
    bool ok = i == optional ? get_optional_bytes(env, argv[i], &h->arg[i], &h->len[i])
                            : get_bytes(env, argv[i], &h->arg[i], &h->len[i]);
    if (!ok) return throw_type(env, "inputs must be Uint8Arrays"), false;
  }
  if (!get_bytes(env, argv[argc_want - 1], &h->out, &h->out_len) || h->out_len != out_len)
    return throw_type(env, out_len == HASH_LEN ? "out must be a 32-byte Uint8Array" : "out must be a 16-byte Uint8Array"),
           false;
  return true;
}

static napi_value js_blake2s(napi_env env, napi_callback_info info) {
  hash_args h;
  if (!parse_hash_args(env, info, 3, 1, HASH_LEN, &h)) return NULL;
  unsigned int n = 0;
  bool ok = EVP_DigestInit_ex2(h.st->hash, h.st->blake2s, NULL) == 1 &&
            EVP_DigestUpdate(h.st->hash, h.arg[0], h.len[0]) == 1 &&
            (h.len[1] == 0 || EVP_DigestUpdate(h.st->hash, h.arg[1], h.len[1]) == 1) &&
            EVP_DigestFinal_ex(h.st->hash, h.out, &n) == 1 && n == HASH_LEN;
  if (!ok) return ERR_clear_error(), throw_type(env, "OpenSSL BLAKE2s failed");
  return NULL;
}

static napi_value js_hmac_blake2s(napi_env env, napi_callback_info info) {
  hash_args h;
  if (!parse_hash_args(env, info, 4, 2, HASH_LEN, &h)) return NULL;
  size_t n = 0;
  /* OpenSSL refuses a NULL key even of length 0; any valid pointer does for an empty one. */
  const uint8_t *key = h.len[0] > 0 ? h.arg[0] : h.out;
  bool ok = EVP_MAC_init(h.st->hmac, key, h.len[0], NULL) == 1 &&
            EVP_MAC_update(h.st->hmac, h.arg[1], h.len[1]) == 1 &&
            (h.len[2] == 0 || EVP_MAC_update(h.st->hmac, h.arg[2], h.len[2]) == 1) &&
            EVP_MAC_final(h.st->hmac, h.out, &n, HASH_LEN) == 1 && n == HASH_LEN;
  if (!ok) return ERR_clear_error(), throw_type(env, "OpenSSL HMAC-BLAKE2s failed");
  return NULL;
}

static napi_value js_blake2s_mac(napi_env env, napi_callback_info info) {
  hash_args h;
  if (!parse_hash_args(env, info, 3, 3, MAC_LEN, &h)) return NULL;
  if (h.len[0] == 0 || h.len[0] > MAC_KEY_MAX) return throw_range(env, "a BLAKE2s key is 1 to 32 bytes");
  size_t n = 0;
  bool ok = EVP_MAC_init(h.st->mac, h.arg[0], h.len[0], NULL) == 1 &&
            EVP_MAC_update(h.st->mac, h.arg[1], h.len[1]) == 1 &&
            EVP_MAC_final(h.st->mac, h.out, &n, MAC_LEN) == 1 && n == MAC_LEN;
  if (!ok) return ERR_clear_error(), throw_type(env, "OpenSSL BLAKE2SMAC failed");
  return NULL;
}

#define HKDF_MAX_OUTPUTS 3

static napi_value js_hkdf_blake2s(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  aead_state *st = NULL;
  uint8_t *key, *input, *out;
  size_t key_len, input_len, out_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3) return throw_type(env, "expected (key, input, out)");
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || st == NULL)
    return throw_type(env, "meshgate_aead: not initialised");
  if (!get_bytes(env, argv[0], &key, &key_len) || !get_bytes(env, argv[1], &input, &input_len))
    return throw_type(env, "key and input must be Uint8Arrays");
  if (!get_bytes(env, argv[2], &out, &out_len) || out_len == 0 || out_len % HASH_LEN != 0 ||
      out_len > HKDF_MAX_OUTPUTS * HASH_LEN)
    return throw_type(env, "out must be a Uint8Array of 32, 64 or 96 bytes");
  uint8_t prk[HASH_LEN];
  size_t n = 0;
  const uint8_t *salt = key_len > 0 ? key : prk; /* any valid pointer for an empty key */
  bool ok = EVP_MAC_init(st->hmac, salt, key_len, NULL) == 1 && EVP_MAC_update(st->hmac, input, input_len) == 1 &&
            EVP_MAC_final(st->hmac, prk, &n, HASH_LEN) == 1 && n == HASH_LEN;
  if (ok) {
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, prk, HASH_LEN),
                           OSSL_PARAM_construct_end()};
    ok = EVP_KDF_derive(st->expand, out, out_len, params) == 1;
  }
  OPENSSL_cleanse(prk, sizeof prk);
  if (!ok) return ERR_clear_error(), throw_type(env, "OpenSSL HKDF-BLAKE2s failed");
  return NULL;
}

static EVP_KDF_CTX *new_expand(void) {
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "BLAKE2S-256", 0),
                         OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode), OSSL_PARAM_construct_end()};
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  if (kdf == NULL) return NULL;
  EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf); /* the context keeps its own reference */
  if (ctx != NULL && EVP_KDF_CTX_set_params(ctx, params) != 1) {
    EVP_KDF_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* A MAC context of `name` with one parameter set (the digest, or the output size). */
static EVP_MAC_CTX *new_mac(const char *name, const OSSL_PARAM *params) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, name, NULL);
  if (mac == NULL) return NULL;
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac); /* the context keeps its own reference */
  if (ctx != NULL && EVP_MAC_CTX_set_params(ctx, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static bool init_blake2s(aead_state *st) {
  size_t mac_len = MAC_LEN;
  OSSL_PARAM digest[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "BLAKE2S-256", 0),
                         OSSL_PARAM_construct_end()};
  OSSL_PARAM size[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &mac_len), OSSL_PARAM_construct_end()};
  st->blake2s = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
  st->hash = EVP_MD_CTX_new();
  st->hmac = new_mac("HMAC", digest);
  st->mac = new_mac("BLAKE2SMAC", size);
  st->expand = new_expand();
  ERR_clear_error();
  return st->blake2s != NULL && st->hash != NULL && st->hmac != NULL && st->mac != NULL && st->expand != NULL;
}

/* ------------------------------------------------------------------ X25519 */

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

/* The key object argument: a live x25519 key of this addon. Throws and returns NULL otherwise. */
static x25519_key *get_key(napi_env env, napi_value v) {
  napi_valuetype t;
  bool tagged = false;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &X25519_KEY_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &data) != napi_ok)
    return throw_type(env, "key must be an X25519 key from x25519Import"), NULL;
  x25519_key *k = data;
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

static aead_state *get_state(napi_env env) {
  aead_state *st = NULL;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || st == NULL)
    return throw_type(env, "meshgate_aead: not initialised"), NULL;
  return st;
}

static napi_value js_x25519_import(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint8_t *raw;
  size_t raw_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || !get_bytes(env, argv[0], &raw, &raw_len) || raw_len != KEY_LEN)
    return throw_type(env, "privateKey must be a 32-byte Uint8Array");
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

static napi_value js_x25519_public_key(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint8_t *out;
  size_t out_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return throw_type(env, "expected (key, out)");
  x25519_key *k = get_key(env, argv[0]);
  if (k == NULL) return NULL;
  if (!get_bytes(env, argv[1], &out, &out_len) || out_len != KEY_LEN)
    return throw_type(env, "out must be a 32-byte Uint8Array");
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

static napi_value js_x25519(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint8_t *pub, *out;
  size_t pub_len, out_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3) return throw_type(env, "expected (key, publicKey, out)");
  aead_state *st = get_state(env);
  if (st == NULL) return NULL;
  x25519_key *k = get_key(env, argv[0]);
  if (k == NULL) return NULL;
  if (!get_bytes(env, argv[1], &pub, &pub_len) || pub_len != KEY_LEN)
    return throw_type(env, "publicKey must be a 32-byte Uint8Array");
  if (!get_bytes(env, argv[2], &out, &out_len) || out_len != KEY_LEN)
    return throw_type(env, "out must be a 32-byte Uint8Array");
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

static napi_value js_x25519_release(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_valuetype t;
  bool tagged = false;
  void *data = NULL;
  /* Idempotent: releasing a released key does nothing. */
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, argv[0], &X25519_KEY_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, argv[0], &data) != napi_ok)
    return throw_type(env, "key must be an X25519 key from x25519Import");
  x25519_key_clear(data);
  return NULL;
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
      {"seal", NULL, js_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"x25519Import", NULL, js_x25519_import, NULL, NULL, NULL, napi_enumerable, NULL},
      {"x25519PublicKey", NULL, js_x25519_public_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"x25519", NULL, js_x25519, NULL, NULL, NULL, napi_enumerable, NULL},
      {"x25519Release", NULL, js_x25519_release, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blake2s", NULL, js_blake2s, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hmacBlake2s", NULL, js_hmac_blake2s, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blake2sMac", NULL, js_blake2s_mac, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hkdfBlake2s", NULL, js_hkdf_blake2s, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_uint32(env, API_VERSION, &v);
  napi_set_named_property(env, exports, "apiVersion", v);
  napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "openssl", v);
  return exports;
}
