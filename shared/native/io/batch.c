// meshgate_io, batch unit: start() and the receive pump (fd readable -> up to
// BATCHES_PER_WAKEUP reads of one batch each -> one JS callback per batch), and
// what every send shares (argument checks, waiting for POLLOUT). See napi.c.

#include "meshgate_io.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Checks a send/receive batch: every slot i lies inside buf and its length inside the slot. */
static bool batch_fits(const int32_t *lens, uint32_t count, uint32_t slot_size, size_t buf_len) {
  for (uint32_t i = 0; i < count; i++) {
    int32_t l = lens[i];
    if (l < 0 || (uint32_t)l > slot_size) return false;
    if ((uint64_t)i * slot_size + (uint64_t)l > buf_len) return false;
  }
  return true;
}

/* Looks up the receive buffers again (JS could have detached them) and checks their sizes. */
static bool rx_buffers(mg_io *h, uint8_t **buf, int32_t **lens, uint8_t **addrs) {
  napi_env env = h->env;
  napi_value vb, vl, va;
  size_t nb, nl, na;
  if (napi_get_reference_value(env, h->rx_buf, &vb) != napi_ok || !vb ||
      napi_get_reference_value(env, h->rx_lens, &vl) != napi_ok || !vl)
    return false;
  if (!get_typed(env, vb, napi_uint8_array, (void **)buf, &nb) ||
      !get_typed(env, vl, napi_int32_array, (void **)lens, &nl))
    return false;
  if (nb < (size_t)h->slots * h->slot_size || nl < h->slots) return false;
  *addrs = NULL;
  if (h->kind == KIND_UDP) {
    if (napi_get_reference_value(env, h->rx_addrs, &va) != napi_ok || !va ||
        !get_typed(env, va, napi_uint8_array, (void **)addrs, &na) ||
        na < (size_t)h->slots * RECORD_LEN)
      return false;
  }
  return true;
}

/* Calls the JS batch callback; false if it threw (the exception goes to 'uncaughtException'). */
static bool deliver(mg_io *h, int count) {
  napi_env env = h->env;
  napi_value fn, recv, arg, result;
  if (!h->on_batch || napi_get_reference_value(env, h->on_batch, &fn) != napi_ok || !fn) return false;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_create_int32(env, count, &arg);
  napi_status s = napi_make_callback(env, h->actx, recv, fn, 1, &arg, &result);
  if (s == napi_ok) return true;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
  return false;
}

static void stop_fatal(mg_io *h, int err) {
  h->fatal_errno = err;
  h->last_errno = err;
  if (h->polling) {
    uv_poll_stop(&h->poll);
    h->polling = false;
  }
}

/* One wake-up: up to BATCHES_PER_WAKEUP batches, each one JS callback. */
static void pump(mg_io *h) {
  if (h->closed || !h->polling) return;
  napi_env env = h->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  for (int b = 0; b < BATCHES_PER_WAKEUP && !h->closed && h->polling; b++) {
    uint8_t *buf, *addrs;
    int32_t *lens;
    if (!rx_buffers(h, &buf, &lens, &addrs)) {
      stop_fatal(h, EINVAL);
      deliver(h, -EINVAL);
      break;
    }
    bool more = false;
    int n = h->kind == KIND_TUN ? tun_read(h, buf, lens, &more)
            : h->gro            ? udp_read_gro(h, buf, lens, addrs, &more)
                                : udp_read(h, buf, lens, addrs, &more);
    if (n < 0) {
      stop_fatal(h, -n);
      deliver(h, n);
      break;
    }
    if (n > 0) {
      h->rx_packets += (uint64_t)n;
      h->rx_batches++;
      if (!deliver(h, n)) break;
    }
    if (!more) break;
  }
  napi_close_handle_scope(env, scope);
  if (h->gro) gro_schedule(h);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)status; /* an error shows up again in read()/recvmmsg() with its errno */
  (void)events;
  pump(p->data);
}

void on_idle(uv_idle_t *idle) {
  pump(idle->data);
}

/* start(handle, rxBuf: Uint8Array, rxLens: Int32Array, rxAddrs: Uint8Array | null,
         slots, slotSize, onBatch: (count) => void) */
napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) THROW_TYPE(env, "start: expected 7 arguments");
  mg_io *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  if (h->closed) {
    napi_throw_error(env, "ERR_CLOSED", "start: handle is closed");
    return NULL;
  }
  if (h->started) {
    napi_throw_error(env, "ERR_STARTED", "start: already started");
    return NULL;
  }
  uint32_t slots, slot_size;
  if (!get_u32(env, argv[4], &slots) || slots < 1 || slots > MAX_SLOTS)
    THROW_RANGE(env, "start: slots must be an integer in 1..1024");
  if (!get_u32(env, argv[5], &slot_size) || slot_size < 1 || slot_size > MAX_SLOT_SIZE)
    THROW_RANGE(env, "start: slotSize must be an integer in 1..65536");
  void *d;
  size_t n;
  if (!get_typed(env, argv[1], napi_uint8_array, &d, &n)) THROW_TYPE(env, "start: rxBuf must be a Uint8Array");
  if (n < (size_t)slots * slot_size) THROW_RANGE(env, "start: rxBuf smaller than slots * slotSize");
  if (!get_typed(env, argv[2], napi_int32_array, &d, &n)) THROW_TYPE(env, "start: rxLens must be an Int32Array");
  if (n < slots) THROW_RANGE(env, "start: rxLens shorter than slots");
  if (h->kind == KIND_UDP) {
    if (!get_typed(env, argv[3], napi_uint8_array, &d, &n)) THROW_TYPE(env, "start: rxAddrs must be a Uint8Array");
    if (n < (size_t)slots * RECORD_LEN) THROW_RANGE(env, "start: rxAddrs smaller than slots * 24");
  }
  napi_valuetype t;
  NAPI_OK(env, napi_typeof(env, argv[6], &t));
  if (t != napi_function) THROW_TYPE(env, "start: onBatch must be a function");

  h->started = true; /* from here on a failed start leaves the handle for close() only */
  if (h->kind == KIND_UDP) {
    h->rx_msgs = calloc(slots, sizeof *h->rx_msgs);
    h->rx_iov = calloc(slots, sizeof *h->rx_iov);
    h->rx_names = calloc(slots, sizeof *h->rx_names);
    if (!h->rx_msgs || !h->rx_iov || !h->rx_names) {
      throw_errno(env, "calloc", NULL, ENOMEM);
      return NULL;
    }
    if (h->gro) {
      h->rx_entries = slots < GRO_MAX_ENTRIES ? slots : GRO_MAX_ENTRIES;
      h->rx_scratch = malloc((size_t)h->rx_entries * GRO_ENTRY_SIZE);
      h->rx_ctrl = calloc(h->rx_entries, sizeof *h->rx_ctrl);
      if (!h->rx_scratch || !h->rx_ctrl) {
        throw_errno(env, "malloc", NULL, ENOMEM);
        return NULL;
      }
      for (uint32_t i = 0; i < h->rx_entries; i++) {
        h->rx_iov[i].iov_base = h->rx_scratch + (size_t)i * GRO_ENTRY_SIZE;
        h->rx_iov[i].iov_len = GRO_ENTRY_SIZE;
      }
      h->rx_avg_segs = 1;
    }
  }
  h->slots = slots;
  h->slot_size = slot_size;
  NAPI_OK(env, napi_create_reference(env, argv[1], 1, &h->rx_buf));
  NAPI_OK(env, napi_create_reference(env, argv[2], 1, &h->rx_lens));
  if (h->kind == KIND_UDP) NAPI_OK(env, napi_create_reference(env, argv[3], 1, &h->rx_addrs));
  NAPI_OK(env, napi_create_reference(env, argv[6], 1, &h->on_batch));
  napi_value name;
  NAPI_OK(env, napi_create_string_utf8(env, h->kind == KIND_TUN ? "meshgate.tun" : "meshgate.udp",
                                       NAPI_AUTO_LENGTH, &name));
  NAPI_OK(env, napi_async_init(env, NULL, name, &h->actx));
  uv_loop_t *loop;
  NAPI_OK(env, napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &h->poll, h->fd);
  if (r < 0) {
    throw_errno(env, "uv_poll_init", NULL, -r);
    return NULL;
  }
  h->poll.data = h;
  h->uv_open = true;
  if (h->gro) {
    r = uv_idle_init(loop, &h->idle);
    if (r < 0) {
      throw_errno(env, "uv_idle_init", NULL, -r);
      return NULL;
    }
    h->idle.data = h;
    h->idle_open = true;
  }
  r = uv_poll_start(&h->poll, UV_READABLE, on_poll);
  if (r < 0) {
    throw_errno(env, "uv_poll_start", NULL, -r);
    return NULL;
  }
  h->polling = true;
  return NULL;
}

/* ---------------------------------------------------------------- send */

/* Waits for the fd to become writable within the call's deadline; false once it has passed. */
bool wait_writable(mg_io *h, int64_t *deadline, int err) {
  int64_t now = now_ns();
  if (*deadline == 0) *deadline = now + (int64_t)SEND_WAIT_MS * 1000000LL;
  if (now >= *deadline) return false;
  h->tx_waits++;
  if (err == ENOBUFS) {
    /* POLLOUT is already set when a device queue is full: back off a little instead. */
    struct timespec ts = {0, ENOBUFS_PAUSE_NS};
    nanosleep(&ts, NULL);
    return true;
  }
  struct pollfd pfd = {.fd = h->fd, .events = POLLOUT, .revents = 0};
  int ms = (int)((*deadline - now + 999999) / 1000000);
  poll(&pfd, 1, ms);
  return true;
}

/* Parses (handle, buf, lens, [addrs,] count, slotSize) and validates every slot. */
static mg_io *get_batch(napi_env env, napi_callback_info info, bool with_addrs, struct batch *b) {
  size_t argc = 6;
  napi_value argv[6];
  size_t want = with_addrs ? 6 : 5;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < want) {
    napi_throw_type_error(env, NULL, "send: wrong number of arguments");
    return NULL;
  }
  mg_io *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  size_t nb, nl, na = 0;
  void *d;
  if (!get_typed(env, argv[1], napi_uint8_array, &d, &nb)) {
    napi_throw_type_error(env, NULL, "send: buf must be a Uint8Array");
    return NULL;
  }
  b->buf = d;
  if (!get_typed(env, argv[2], napi_int32_array, &d, &nl)) {
    napi_throw_type_error(env, NULL, "send: lens must be an Int32Array");
    return NULL;
  }
  b->lens = d;
  b->addrs = NULL;
  size_t k = 3;
  if (with_addrs) {
    if (!get_typed(env, argv[3], napi_uint8_array, &d, &na)) {
      napi_throw_type_error(env, NULL, "send: addrs must be a Uint8Array");
      return NULL;
    }
    b->addrs = d;
    k = 4;
  }
  if (!get_u32(env, argv[k], &b->count) || !get_u32(env, argv[k + 1], &b->slot_size) ||
      b->slot_size < 1 || b->slot_size > MAX_SLOT_SIZE || b->count > nl ||
      (with_addrs && (uint64_t)b->count * RECORD_LEN > na) ||
      !batch_fits(b->lens, b->count, b->slot_size, nb)) {
    napi_throw_range_error(env, NULL, "send: count, slotSize or lengths out of range for the buffers");
    return NULL;
  }
  return h;
}

napi_value count_value(napi_env env, uint32_t n) {
  napi_value v;
  napi_create_uint32(env, n, &v);
  return v;
}

/* What every send starts with: the batch's arguments and the handle's kind. A
   closed handle sends nothing and counts the whole batch as errors. Returns the
   handle to send on, or NULL with *early set (the count not sent) or a JS
   exception pending. */
mg_io *begin_send(napi_env env, napi_callback_info info, int kind, struct batch *b, napi_value *early) {
  *early = NULL;
  mg_io *h = get_batch(env, info, kind == KIND_UDP, b);
  if (!h) return NULL;
  if (h->kind != kind) {
    napi_throw_type_error(env, NULL, kind == KIND_TUN ? "tunWrite: not a TUN handle" : "udpSend: not a UDP handle");
    return NULL;
  }
  if (h->closed) {
    h->tx_errors += b->count;
    *early = count_value(env, b->count);
    return NULL;
  }
  return h;
}
