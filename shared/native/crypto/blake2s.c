// meshgate_aead: BLAKE2s for the handshake (WireGuard paper section 5.4: HASH, HMAC, MAC),
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

#include "meshgate_crypto.h"

#define HASH_LEN 32
#define MAC_LEN 16
#define MAC_KEY_MAX 32

/* Up to four arguments: Uint8Arrays, the optional ones null; `out` of exactly out_len bytes last. */
typedef struct {
  aead_state *st;
  uint8_t *arg[3], *out;
  size_t len[3];
} hash_args;

static bool parse_hash_args(napi_env env, napi_callback_info info, size_t argc_want, size_t optional,
                            size_t out_len, hash_args *h) {
  napi_value argv[4];
  if (!get_args(env, info, argc_want, argv, "missing arguments")) return false;
  if ((h->st = get_state(env)) == NULL) return false;
  for (size_t i = 0; i + 1 < argc_want; i++) {
    bool ok = i == optional ? get_optional_bytes(env, argv[i], &h->arg[i], &h->len[i])
                            : get_bytes(env, argv[i], &h->arg[i], &h->len[i]);
    if (!ok) return throw_type(env, "inputs must be Uint8Arrays"), false;
  }
  if (!get_sized_bytes(env, argv[argc_want - 1], out_len, &h->out))
    return throw_type(env, out_len == HASH_LEN ? "out must be a 32-byte Uint8Array" : "out must be a 16-byte Uint8Array"),
           false;
  return true;
}

napi_value js_blake2s(napi_env env, napi_callback_info info) {
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

napi_value js_hmac_blake2s(napi_env env, napi_callback_info info) {
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

napi_value js_blake2s_mac(napi_env env, napi_callback_info info) {
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

napi_value js_hkdf_blake2s(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint8_t *key, *input, *out;
  size_t key_len, input_len, out_len;
  if (!get_args(env, info, 3, argv, "expected (key, input, out)")) return NULL;
  aead_state *st = get_state(env);
  if (st == NULL) return NULL;
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

bool init_blake2s(aead_state *st) {
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
