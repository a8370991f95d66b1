// meshgate_aead: ChaCha20-Poly1305 (RFC 8439) for the packet path.
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

#include "meshgate_crypto.h"

/* Same bytes or apart: fine. Partly overlapping: refused. */
static bool overlap_ok(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len) {
  if (in == out || in_len == 0 || out_len == 0) return true;
  return in + in_len <= out || out + out_len <= in;
}

typedef struct {
  aead_state *st;
  uint8_t *key, *nonce, *ad, *in, *out;
  size_t ad_len, in_len, out_len;
  uint32_t out_offset;
} aead_args;

/* Parses the six arguments shared by seal and open. Throws and returns false on bad ones. */
static bool parse_args(napi_env env, napi_callback_info info, aead_args *a) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv, "expected (key, nonce, ad, input, out, outOffset)")) return false;
  if ((a->st = get_state(env)) == NULL) return false;
  if (!get_sized_bytes(env, argv[0], KEY_LEN, &a->key))
    return throw_type(env, "key must be a 32-byte Uint8Array"), false;
  if (!get_sized_bytes(env, argv[1], NONCE_LEN, &a->nonce))
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

napi_value js_seal(napi_env env, napi_callback_info info) {
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

napi_value js_open(napi_env env, napi_callback_info info) {
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

EVP_CIPHER_CTX *new_ctx(bool encrypt) {
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
