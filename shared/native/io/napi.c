// meshgate_io: the native I/O layer of meshgate (Linux). I/O only: no protocol
// logic, no crypto. The TypeScript side is shared/io/native.ts, tun.ts, udp.ts.
//
// Packet flow
//   receive  fd readable (uv_poll on the main libuv loop, level-triggered)
//            -> TUN: read() per packet, UDP: recvmmsg(MSG_DONTWAIT)
//            -> up to `slots` packets into ONE JS-owned batch buffer (slot i at
//               i * slotSize), lengths into an Int32Array, UDP sources into
//               24-byte records -> ONE JS callback(count) per batch.
//               Repeats while batches come back full, at most
//               BATCHES_PER_WAKEUP times, then lets the loop serve other I/O.
//   send     JS fills a batch (buffer + lengths (+ records)) and calls
//            tunWrite (one write() per packet: that is how TUN works) or
//            udpSend (sendmmsg). On EAGAIN/ENOBUFS it waits for POLLOUT for at
//            most SEND_WAIT_MS per call and retries; what still cannot go out
//            is counted as errors.
//
// Units (one private header, meshgate_io.h):
//   napi.c         this file: argument and error helpers, handle lifetime,
//                  close/stats/ifindex/errnoName/inNetns, the module's exports
//   batch.c        the receive pump (poll -> read -> one JS callback per batch),
//                  start(), and the checks of a send batch
//   tun.c          TUN: open, read, write
//   udp.c          UDP: endpoint records, open, recvmmsg, sendmmsg
//   udp_offload.c  UDP GSO (send) and GRO (receive)
//
//
// Errors: setup failures (open, ioctl, socket, bind) throw a JS Error with
// `code` (errno name), `errno` and `syscall`. The data path never throws for
// network conditions: failed packets are counted (stats()), and a fatal read
// error (device gone, fd invalid) stops polling and is reported once to the
// batch callback as a negative count (-errno). Bad arguments from JS (lengths,
// counts, buffers too small) throw a RangeError/TypeError: nothing is ever
// written or read out of bounds.
//
// Endpoint record (RECORD_LEN = 24 bytes; same layout in shared/io/endpoint.ts):
//   bytes 0..15 IPv6 address (IPv4 as ::ffff:a.b.c.d), 16..17 port big-endian,
//   18..19 zero, 20..23 scope id little-endian.
//
// Lifetime: an open device keeps the loop alive while it polls; close() stops
// and uv_close()s the poll handle and closes the fd (idempotent). Memory is
// freed once both the JS object is collected and libuv has closed the handle.
// An environment cleanup hook closes what is still open when the process or
// worker thread exits.
#include "meshgate_io.h"
#include "../napi_args.h"

/* Marks the JS objects this addon hands out, so no foreign object is unwrapped. */
static const napi_type_tag MG_TAG = {0x6d65736867617465ULL, 0x5f696f5f68616e64ULL};
/* ---------------------------------------------------------------- helpers */

const char *errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(err);
  if (n) return n;
#endif
  (void)err;
  return "EUNKNOWN";
}

void throw_errno(napi_env env, const char *syscall, const char *detail, int err) {
  char msg[320];
  if (detail && *detail)
    snprintf(msg, sizeof msg, "%s %s: %s (%s)", syscall, detail, strerror(err), errno_name(err));
  else
    snprintf(msg, sizeof msg, "%s: %s (%s)", syscall, strerror(err), errno_name(err));
  napi_value code, text, error, num, sc;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
}

bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *count) {
  return napi_args_typed(env, v, want, data, count);
}

bool get_u32(napi_env env, napi_value v, uint32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return false;
  *out = (uint32_t)d;
  return true;
}

bool get_string(napi_env env, napi_value v, char *buf, size_t size, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return false;
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n >= size) return false;
  if (napi_get_value_string_utf8(env, v, buf, size, &n) != napi_ok) return false;
  if (strlen(buf) != n) return false; /* embedded NUL */
  *len = n;
  return true;
}

/* ---------------------------------------------------------------- lifetime */

static void cleanup_hook(void *arg);

static void maybe_free(mg_io *h) {
  if (h->uv_open || h->idle_open || h->js_alive) return;
  free(h->rx_msgs);
  free(h->rx_iov);
  free(h->rx_names);
  free(h->rx_scratch);
  free(h->rx_ctrl);
  free(h->tx_msgs);
  free(h->tx_iov);
  free(h->tx_names);
  free(h->tx_ctrl);
  free(h->tx_first);
  free(h->tx_segs);
  free(h);
}

static void on_uv_closed(uv_handle_t *handle) {
  mg_io *h = handle->data;
  h->uv_open = false;
  maybe_free(h);
}

static void on_idle_closed(uv_handle_t *handle) {
  mg_io *h = handle->data;
  h->idle_open = false;
  maybe_free(h);
}

static void delete_ref(napi_env env, napi_ref *ref) {
  if (*ref) {
    napi_delete_reference(env, *ref);
    *ref = NULL;
  }
}

static void io_close(mg_io *h) {
  if (h->closed) return;
  h->closed = true;
  napi_env env = h->env;
  if (h->polling) {
    uv_poll_stop(&h->poll);
    h->polling = false;
  }
  if (h->uv_open) uv_close((uv_handle_t *)&h->poll, on_uv_closed);
  if (h->idle_open) {
    if (h->idle_active) uv_idle_stop(&h->idle);
    h->idle_active = false;
    uv_close((uv_handle_t *)&h->idle, on_idle_closed);
  }
  if (h->fd >= 0) {
    close(h->fd);
    h->fd = -1;
  }
  delete_ref(env, &h->on_batch);
  delete_ref(env, &h->rx_buf);
  delete_ref(env, &h->rx_lens);
  delete_ref(env, &h->rx_addrs);
  if (h->actx) {
    napi_async_destroy(env, h->actx);
    h->actx = NULL;
  }
  if (h->hook_added && !h->in_hook) napi_remove_env_cleanup_hook(env, cleanup_hook, h);
  h->hook_added = false;
}

static void cleanup_hook(void *arg) {
  mg_io *h = arg;
  h->in_hook = true;
  io_close(h);
  h->in_hook = false;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  mg_io *h = data;
  io_close(h);
  h->js_alive = false;
  maybe_free(h);
}

/* Wraps a freshly opened fd in a tagged JS object; closes the fd on failure. */
napi_value make_handle(napi_env env, int fd, int kind, int family, mg_io **out) {
  mg_io *h = calloc(1, sizeof *h);
  if (!h) {
    close(fd);
    throw_errno(env, "calloc", NULL, ENOMEM);
    return NULL;
  }
  h->env = env;
  h->fd = fd;
  h->kind = kind;
  h->family = family;
  h->js_alive = true;
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_wrap(env, obj, h, finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(h);
    napi_throw_error(env, NULL, "meshgate_io: cannot create handle");
    return NULL;
  }
  napi_type_tag_object(env, obj, &MG_TAG);
  if (napi_add_env_cleanup_hook(env, cleanup_hook, h) == napi_ok) h->hook_added = true;
  if (out) *out = h;
  return obj;
}

mg_io *get_handle(napi_env env, napi_value v) {
  napi_valuetype t;
  bool ok = false;
  void *p = NULL;
  if (napi_typeof(env, v, &t) == napi_ok && t == napi_object &&
      napi_check_object_type_tag(env, v, &MG_TAG, &ok) == napi_ok && ok &&
      napi_unwrap(env, v, &p) == napi_ok && p)
    return p;
  napi_throw_type_error(env, NULL, "meshgate_io: not a meshgate I/O handle");
  return NULL;
}

/* The handle of a call whose one argument is a handle; NULL with a JS exception pending if it is missing. */
static mg_io *handle_arg(napi_env env, napi_callback_info info, const char *missing) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) THROW_TYPE(env, missing);
  return get_handle(env, argv[0]);
}

/* close(handle): idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  mg_io *h = handle_arg(env, info, "close: expected a handle");
  if (!h) return NULL;
  io_close(h);
  return NULL;
}

static void set_num(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, obj, key, v);
}

static napi_status set_bool(napi_env env, napi_value obj, const char *key, bool value) {
  napi_value v;
  napi_status s = napi_get_boolean(env, value, &v);
  return s == napi_ok ? napi_set_named_property(env, obj, key, v) : s;
}

/* obj[key] = the errno's name ("EBADF"), or "" for 0. */
static napi_status set_errno(napi_env env, napi_value obj, const char *key, int err) {
  napi_value v;
  napi_status s = napi_create_string_utf8(env, err ? errno_name(err) : "", NAPI_AUTO_LENGTH, &v);
  return s == napi_ok ? napi_set_named_property(env, obj, key, v) : s;
}

/* stats(handle) -> counters (plain numbers) */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  mg_io *h = handle_arg(env, info, "stats: expected a handle");
  if (!h) return NULL;
  napi_value o;
  NAPI_OK(env, napi_create_object(env, &o));
  const struct {
    const char *key;
    uint64_t value;
  } counters[] = {
      {"rxPackets", h->rx_packets}, {"rxBatches", h->rx_batches},
      {"rxDropped", h->rx_dropped}, {"rxErrors", h->rx_errors},
      {"txPackets", h->tx_packets}, {"txErrors", h->tx_errors}, {"txWaits", h->tx_waits},
      {"gsoSends", h->gso_sends}, {"gsoSegments", h->gso_segments}, {"gsoRefused", h->gso_refused},
      {"groReceives", h->gro_receives}, {"groSegments", h->gro_segments},
  };
  for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
    set_num(env, o, counters[i].key, (double)counters[i].value);
  NAPI_OK(env, set_bool(env, o, "gso", h->gso));
  NAPI_OK(env, set_bool(env, o, "gro", h->gro));
  NAPI_OK(env, set_errno(env, o, "gsoFallback", h->gso_fallback_errno));
  NAPI_OK(env, set_errno(env, o, "lastError", h->last_errno));
  NAPI_OK(env, set_errno(env, o, "fatalError", h->fatal_errno));
  return o;
}

/* ifindex(name) -> interface index in the calling thread's network namespace, 0 if none */
static napi_value js_ifindex(napi_env env, napi_callback_info info) {
  size_t argc = 1, len;
  napi_value argv[1];
  char name[IFNAMSIZ];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t index = 0;
  if (argc >= 1 && get_string(env, argv[0], name, sizeof name, &len)) index = if_nametoindex(name);
  return count_value(env, index);
}

/* errnoName(errno) -> "EAGAIN" etc. (for messages on the JS side) */
static napi_value js_errno_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  uint32_t e = 0;
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1) get_u32(env, argv[0], &e);
  NAPI_OK(env, napi_create_string_utf8(env, errno_name((int)e), NAPI_AUTO_LENGTH, &out));
  return out;
}

/* inNetns(path, fn): runs fn() with the calling thread in the network namespace at
   `path` (e.g. /run/netns/NAME), then switches back. Sockets and TUN devices
   opened inside fn stay in that namespace. Used by tests and the runner to
   open devices in a namespace without a child process. */
static napi_value js_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 2, len;
  napi_value argv[2];
  char path[4096];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_string(env, argv[0], path, sizeof path, &len))
    THROW_TYPE(env, "inNetns: path must be a string");
  napi_valuetype t;
  NAPI_OK(env, napi_typeof(env, argv[1], &t));
  if (t != napi_function) THROW_TYPE(env, "inNetns: fn must be a function");
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    throw_errno(env, "open", "/proc/thread-self/ns/net", errno);
    return NULL;
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(self);
    throw_errno(env, "open", path, e);
    return NULL;
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(self);
    close(target);
    throw_errno(env, "setns", path, e);
    return NULL;
  }
  close(target);
  napi_value global, result = NULL;
  napi_get_global(env, &global);
  napi_status s = napi_call_function(env, global, argv[1], 0, NULL, &result);
  if (setns(self, CLONE_NEWNET) < 0)
    napi_fatal_error("meshgate_io.inNetns", NAPI_AUTO_LENGTH,
                     "cannot return to the original network namespace", NAPI_AUTO_LENGTH);
  close(self);
  if (s != napi_ok) return NULL; /* the exception stays pending and propagates */
  return result;
}

/* ---------------------------------------------------------------- module */

NAPI_MODULE_INIT() {
  napi_property_descriptor fns[] = {
      NAPI_ARGS_METHOD("tunOpen", js_tun_open),
      NAPI_ARGS_METHOD("udpOpen", js_udp_open),
      NAPI_ARGS_METHOD("start", js_start),
      NAPI_ARGS_METHOD("tunWrite", js_tun_write),
      NAPI_ARGS_METHOD("udpSend", js_udp_send),
      NAPI_ARGS_METHOD("close", js_close),
      NAPI_ARGS_METHOD("stats", js_stats),
      NAPI_ARGS_METHOD("ifindex", js_ifindex),
      NAPI_ARGS_METHOD("errnoName", js_errno_name),
      NAPI_ARGS_METHOD("inNetns", js_in_netns),
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  napi_args_set_u32(env, exports, "apiVersion", API_VERSION);
  napi_args_set_u32(env, exports, "recordLen", RECORD_LEN);
  napi_args_set_u32(env, exports, "maxSlots", MAX_SLOTS);
  napi_args_set_u32(env, exports, "maxSlotSize", MAX_SLOT_SIZE);
  return exports;
}
