// Private header of the meshgate_aead addon (shared/native/crypto/): the
// per-environment instance data every unit uses, the argument helpers of
// napi.c, and each unit's exports. Units: napi.c (module init, instance data,
// helpers), aead.c (ChaCha20-Poly1305), blake2s.c (HASH, HMAC, MAC, HKDF),
// x25519.c (raw-key X25519). The TypeScript side is shared/io/native-aead.ts.
#ifndef MESHGATE_CRYPTO_H
#define MESHGATE_CRYPTO_H

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

/* napi.c: instance data and argument helpers. get_args and get_state throw on failure; the
   get_*bytes readers throw nothing (the caller names the argument in its own message). */
void free_state(napi_env env, void *data, void *hint);
napi_value throw_type(napi_env env, const char *msg);
napi_value throw_range(napi_env env, const char *msg);
bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage);
bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len);
bool get_sized_bytes(napi_env env, napi_value v, size_t len, uint8_t **data);
bool get_optional_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len);
aead_state *get_state(napi_env env);

/* aead.c */
EVP_CIPHER_CTX *new_ctx(bool encrypt);
napi_value js_seal(napi_env env, napi_callback_info info);
napi_value js_open(napi_env env, napi_callback_info info);

/* blake2s.c */
bool init_blake2s(aead_state *st);
napi_value js_blake2s(napi_env env, napi_callback_info info);
napi_value js_hmac_blake2s(napi_env env, napi_callback_info info);
napi_value js_blake2s_mac(napi_env env, napi_callback_info info);
napi_value js_hkdf_blake2s(napi_env env, napi_callback_info info);

/* x25519.c */
napi_value js_x25519_import(napi_env env, napi_callback_info info);
napi_value js_x25519_public_key(napi_env env, napi_callback_info info);
napi_value js_x25519(napi_env env, napi_callback_info info);
napi_value js_x25519_release(napi_env env, napi_callback_info info);

#endif
