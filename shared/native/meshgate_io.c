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
// UDP segmentation offloads (Linux; each switchable per socket at udpOpen):
//   GSO      udpSend coalesces a run of consecutive datagrams to the same
//            destination with equal sizes (the last may be shorter) into ONE
//            sendmmsg entry: an iovec per datagram pointing into the batch
//            (no copy) and a UDP_SEGMENT cmsg with the size. The kernel sends
//            one super-skb and splits it as late as possible. If the kernel
//            refuses an entry (EINVAL/EIO/ENOPROTOOPT: no GSO here; EMSGSIZE:
//            segment larger than the path MTU) its datagrams are resent one
//            by one; the first kind switches GSO off for the socket for good,
//            the second stops coalescing segments of that size or larger.
//   GRO      the socket has UDP_GRO set, so one received entry may hold several
//            datagrams of gso_size bytes each (the last one shorter), told by
//            a UDP_GRO cmsg. recvmmsg then reads into C-owned scratch entries
//            of GRO_ENTRY_SIZE bytes (no payload is ever truncated) and the
//            datagrams are copied out one per JS slot, each with the entry's
//            source record, so JS still sees one datagram per slot. What does
//            not fit a slot is dropped and counted. Datagrams left over when
//            the JS batch is full stay pending for the next batch; an idle
//            handle brings the loop back for them.
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

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define API_VERSION 3 /* NATIVE_API_VERSION in shared/io/native.ts */
#define RECORD_LEN 24
#define REC_PORT 16
#define REC_SCOPE 20
#define MAX_SLOTS 1024 /* also the kernel's UIO_MAXIOV, the sendmmsg/recvmmsg vlen limit */
#define MAX_SLOT_SIZE 65536
#define BATCHES_PER_WAKEUP 8
#define SEND_WAIT_MS 5
#define ENOBUFS_PAUSE_NS 100000

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* Linux >= 4.18: cmsg/sockopt, u16 segment size */
#endif
#ifndef UDP_GRO
#define UDP_GRO 104 /* Linux >= 5.0: sockopt int; cmsg int gso_size on receive */
#endif
#define GSO_MAX_SEGMENTS 64   /* UDP_MAX_SEGMENTS of older kernels (newer allow more) */
#define GSO_MAX_BYTES 65507   /* payload of one super-datagram: 65535 - 20 (IPv4) - 8 (UDP) */
#define GRO_ENTRY_SIZE 65536  /* a receive entry holds any UDP payload (at most 65527 bytes) */
#define GRO_MAX_ENTRIES 64    /* recvmmsg entries with GRO on (64 KiB of scratch each) */

/* udpOpen flags */
#define OPEN_GSO 0x1
#define OPEN_GRO 0x2
#define OPEN_TEST_NO_CHECK 0x100 /* tests only: SO_NO_CHECK, which makes the kernel refuse UDP_SEGMENT (EINVAL) */
#define OPEN_KNOWN_FLAGS (OPEN_GSO | OPEN_GRO | OPEN_TEST_NO_CHECK)

/* Control buffers, aligned for struct cmsghdr. */
typedef union {
  char buf[CMSG_SPACE(sizeof(uint16_t))];
  struct cmsghdr align;
} gso_ctrl;
typedef union {
  char buf[CMSG_SPACE(sizeof(int)) * 2]; /* room for one more than we ask for, so nothing is cut */
  struct cmsghdr align;
} gro_ctrl;

enum { KIND_TUN = 1, KIND_UDP = 2 };

typedef union {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
} sockaddr_any;

typedef struct {
  napi_env env;
  int fd;
  int kind;
  int family; /* UDP: AF_INET or AF_INET6 */
  bool closed;
  bool started;
  bool polling;  /* uv_poll_start active */
  bool uv_open;  /* uv handle initialised, close callback not yet run */
  bool idle_open;   /* UDP GRO: idle handle initialised, close callback not yet run */
  bool idle_active; /* ...and started (datagrams pending) */
  bool js_alive; /* JS wrapper not yet finalised */
  bool hook_added;
  bool in_hook;
  uv_poll_t poll;
  uv_idle_t idle;
  napi_ref on_batch, rx_buf, rx_lens, rx_addrs;
  napi_async_context actx;
  uint32_t slots, slot_size;
  struct mmsghdr *rx_msgs;
  struct iovec *rx_iov;
  sockaddr_any *rx_names;
  struct mmsghdr *tx_msgs;
  struct iovec *tx_iov;
  sockaddr_any *tx_names;
  /* UDP GSO (send): state, per-entry control buffers, first datagram and count */
  bool gso;
  uint32_t gso_seg_limit; /* segments larger than this are not coalesced (EMSGSIZE seen) */
  int gso_fallback_errno; /* what switched GSO off for good, 0 if nothing did */
  gso_ctrl *tx_ctrl;
  uint32_t *tx_first, *tx_segs;
  /* UDP GRO (receive): scratch entries and the datagrams still to hand out */
  bool gro;
  uint32_t rx_entries;    /* recvmmsg entries (scratch entries) */
  uint8_t *rx_scratch;    /* rx_entries * GRO_ENTRY_SIZE */
  gro_ctrl *rx_ctrl;
  uint32_t pend_n, pend_i; /* entries received / next entry to split */
  bool pend_open;          /* entry pend_i checked; fields below valid */
  uint32_t pend_len, pend_seg, pend_off;
  uint8_t pend_rec[RECORD_LEN];
  uint32_t rx_avg_segs;    /* datagrams per entry in the last recvmmsg (>= 1) */
  uint64_t rx_packets, rx_batches, rx_dropped, rx_errors;
  uint64_t tx_packets, tx_errors, tx_waits;
  uint64_t gso_sends, gso_segments, gso_refused, gro_receives, gro_segments;
  int last_errno, fatal_errno;
  uint8_t spill; /* TUN: the byte that tells a packet did not fit its slot */
} mg_io;

/* Marks the JS objects this addon hands out, so no foreign object is unwrapped. */
static const napi_type_tag MG_TAG = {0x6d65736867617465ULL, 0x5f696f5f68616e64ULL};

/* ---------------------------------------------------------------- helpers */

static const char *errno_name(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(err);
  if (n) return n;
#endif
  (void)err;
  return "EUNKNOWN";
}

static void throw_errno(napi_env env, const char *syscall, const char *detail, int err) {
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

#define THROW_TYPE(env, msg)                    \
  do {                                          \
    napi_throw_type_error((env), NULL, (msg));  \
    return NULL;                                \
  } while (0)
#define THROW_RANGE(env, msg)                   \
  do {                                          \
    napi_throw_range_error((env), NULL, (msg)); \
    return NULL;                                \
  } while (0)
#define NAPI_OK(env, call)                                                 \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      bool pending_ = false;                                               \
      napi_is_exception_pending((env), &pending_);                         \
      if (!pending_) napi_throw_error((env), NULL, "meshgate_io: N-API call failed"); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data,
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

static bool get_u32(napi_env env, napi_value v, uint32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return false;
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return false;
  *out = (uint32_t)d;
  return true;
}

static bool get_string(napi_env env, napi_value v, char *buf, size_t size, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return false;
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok || n >= size) return false;
  if (napi_get_value_string_utf8(env, v, buf, size, &n) != napi_ok) return false;
  if (strlen(buf) != n) return false; /* embedded NUL */
  *len = n;
  return true;
}

static void record_from_sockaddr(uint8_t *rec, const sockaddr_any *sa) {
  memset(rec, 0, RECORD_LEN);
  if (sa->sa.sa_family == AF_INET6) {
    memcpy(rec, &sa->v6.sin6_addr, 16);
    memcpy(rec + REC_PORT, &sa->v6.sin6_port, 2); /* already big-endian */
    uint32_t s = sa->v6.sin6_scope_id;
    rec[REC_SCOPE] = s & 0xff;
    rec[REC_SCOPE + 1] = (s >> 8) & 0xff;
    rec[REC_SCOPE + 2] = (s >> 16) & 0xff;
    rec[REC_SCOPE + 3] = (s >> 24) & 0xff;
  } else if (sa->sa.sa_family == AF_INET) {
    rec[10] = 0xff;
    rec[11] = 0xff;
    memcpy(rec + 12, &sa->v4.sin_addr, 4);
    memcpy(rec + REC_PORT, &sa->v4.sin_port, 2);
  }
}

static bool record_is_v4(const uint8_t *rec) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(rec, prefix, 12) == 0;
}

/* Fills *sa from a record for a socket of `family`; false if it cannot be reached from it. */
static bool sockaddr_from_record(sockaddr_any *sa, socklen_t *len, const uint8_t *rec, int family) {
  memset(sa, 0, sizeof *sa);
  if (family == AF_INET6) {
    sa->v6.sin6_family = AF_INET6;
    memcpy(&sa->v6.sin6_addr, rec, 16);
    memcpy(&sa->v6.sin6_port, rec + REC_PORT, 2);
    sa->v6.sin6_scope_id = (uint32_t)rec[REC_SCOPE] | ((uint32_t)rec[REC_SCOPE + 1] << 8) |
                           ((uint32_t)rec[REC_SCOPE + 2] << 16) | ((uint32_t)rec[REC_SCOPE + 3] << 24);
    *len = sizeof(struct sockaddr_in6);
    return true;
  }
  if (!record_is_v4(rec)) return false;
  sa->v4.sin_family = AF_INET;
  memcpy(&sa->v4.sin_addr, rec + 12, 4);
  memcpy(&sa->v4.sin_port, rec + REC_PORT, 2);
  *len = sizeof(struct sockaddr_in);
  return true;
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
static napi_value make_handle(napi_env env, int fd, int kind, int family, mg_io **out) {
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

static mg_io *get_handle(napi_env env, napi_value v) {
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

/* ---------------------------------------------------------------- receive */

/* Reads TUN packets into slots. Returns the count, or -errno when the device is unusable. */
static int tun_read(mg_io *h, uint8_t *buf, int32_t *lens, bool *more) {
  uint32_t n = 0;
  const uint32_t ss = h->slot_size;
  *more = false;
  /* The kernel silently truncates a packet larger than the buffer and returns
     the truncated length, so each read gets one spare byte behind the slot:
     a result of ss + 1 means the packet did not fit. */
  struct iovec iov[2] = {{.iov_base = NULL, .iov_len = ss}, {.iov_base = &h->spill, .iov_len = 1}};
  while (n < h->slots) {
    iov[0].iov_base = buf + (size_t)n * ss;
    ssize_t r = readv(h->fd, iov, 2);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) return (int)n;
      h->last_errno = e;
      /* Deliver what we have; the error comes back on the next wakeup. */
      return n > 0 ? (int)n : -e;
    }
    /* Empty, or larger than a slot: cannot be forwarded intact, drop it. */
    if (r == 0 || (size_t)r > ss) {
      h->rx_dropped++;
      continue;
    }
    lens[n++] = (int32_t)r;
  }
  *more = true;
  return (int)n;
}

static bool recv_error_is_transient(int e) {
  switch (e) {
    case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: case EHOSTDOWN:
    case ENETDOWN: case ENOBUFS: case ENOMEM: case EMSGSIZE: case ETIMEDOUT:
    case EPROTO: case ECONNRESET: case EPERM: case EACCES:
      return true;
    default:
      return false;
  }
}

static int udp_read(mg_io *h, uint8_t *buf, int32_t *lens, uint8_t *addrs, bool *more) {
  const uint32_t ss = h->slot_size;
  *more = false;
  for (uint32_t i = 0; i < h->slots; i++) {
    h->rx_iov[i].iov_base = buf + (size_t)i * ss;
    h->rx_iov[i].iov_len = ss;
    struct msghdr *m = &h->rx_msgs[i].msg_hdr;
    memset(m, 0, sizeof *m);
    m->msg_name = &h->rx_names[i];
    m->msg_namelen = sizeof(sockaddr_any);
    m->msg_iov = &h->rx_iov[i];
    m->msg_iovlen = 1;
    h->rx_msgs[i].msg_len = 0;
  }
  int r;
  do {
    r = recvmmsg(h->fd, h->rx_msgs, h->slots, MSG_DONTWAIT, NULL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return 0;
    h->last_errno = e;
    if (recv_error_is_transient(e)) {
      h->rx_errors++;
      *more = true; /* the error is consumed; data may follow */
      return 0;
    }
    return -e;
  }
  *more = (uint32_t)r == h->slots;
  uint32_t j = 0;
  for (uint32_t i = 0; i < (uint32_t)r; i++) {
    uint32_t len = h->rx_msgs[i].msg_len;
    if ((h->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len > ss) {
      h->rx_dropped++;
      continue;
    }
    if (j != i) memmove(buf + (size_t)j * ss, buf + (size_t)i * ss, len);
    lens[j] = (int32_t)len;
    record_from_sockaddr(addrs + (size_t)j * RECORD_LEN, &h->rx_names[i]);
    j++;
  }
  return (int)j;
}

/* GRO: the segment size of received entry i (0 if it holds a single datagram). */
static uint32_t gro_size(struct msghdr *m) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      return v > 0 ? (uint32_t)v : 0;
    }
  }
  return 0;
}

/* GRO: checks pending entry pend_i before it is split; false if it is dropped. */
static bool gro_open_entry(mg_io *h) {
  uint32_t i = h->pend_i;
  struct msghdr *m = &h->rx_msgs[i].msg_hdr;
  uint32_t len = h->rx_msgs[i].msg_len;
  /* A cut payload or a cut cmsg (the segment size may be lost) cannot be split safely. */
  if ((m->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || len > GRO_ENTRY_SIZE) {
    h->rx_dropped++;
    return false;
  }
  uint32_t seg = gro_size(m);
  if (seg == 0 || seg >= len) seg = len; /* one datagram (also an empty one) */
  if (seg < len) {
    h->gro_receives++;
    h->gro_segments += (len + seg - 1) / seg;
  }
  h->pend_len = len;
  h->pend_seg = seg;
  h->pend_off = 0;
  record_from_sockaddr(h->pend_rec, &h->rx_names[i]);
  h->pend_open = true;
  return true;
}

/* GRO: copies pending datagrams into slots n.. (one per slot); returns the new count. */
static uint32_t gro_split(mg_io *h, uint8_t *buf, int32_t *lens, uint8_t *addrs, uint32_t n) {
  const uint32_t ss = h->slot_size;
  while (h->pend_i < h->pend_n && n < h->slots) {
    if (!h->pend_open && !gro_open_entry(h)) {
      h->pend_i++;
      continue;
    }
    const uint8_t *src = h->rx_scratch + (size_t)h->pend_i * GRO_ENTRY_SIZE;
    const uint32_t len = h->pend_len, seg = h->pend_seg;
    uint32_t off = h->pend_off;
    do { /* at least once: an empty datagram is a datagram too */
      uint32_t l = len - off < seg ? len - off : seg;
      if (l > ss) {
        h->rx_dropped++;
      } else {
        memcpy(buf + (size_t)n * ss, src + off, l);
        lens[n] = (int32_t)l;
        memcpy(addrs + (size_t)n * RECORD_LEN, h->pend_rec, RECORD_LEN);
        n++;
      }
      off += l;
    } while (off < len && n < h->slots);
    h->pend_off = off;
    if (off >= len) {
      h->pend_open = false;
      h->pend_i++;
    }
  }
  return n;
}

static bool gro_pending(const mg_io *h) {
  return h->pend_i < h->pend_n;
}

/* UDP with GRO: hands out pending datagrams, then recvmmsg()s into the scratch
   entries while the batch is not full and the socket may hold more. */
static int udp_read_gro(mg_io *h, uint8_t *buf, int32_t *lens, uint8_t *addrs, bool *more) {
  uint32_t n = 0;
  bool received = false, filled = false; /* a recvmmsg of this call, and whether it filled all entries */
  *more = false;
  for (;;) {
    n = gro_split(h, buf, lens, addrs, n);
    if (n == h->slots) {
      *more = true; /* pending datagrams, or the socket may hold more */
      return (int)n;
    }
    if (received && !filled) return (int)n; /* the socket is drained */
    /* As many entries as should fill the rest of the batch, judging by the last
       receive: few when GRO packs many datagrams per entry, so little waits in
       the scratch (and stays in cache); all of them for single datagrams. */
    uint32_t avg = h->rx_avg_segs ? h->rx_avg_segs : 1;
    uint32_t vlen = (h->slots - n + avg - 1) / avg;
    if (vlen > h->rx_entries) vlen = h->rx_entries;
    if (vlen < 1) vlen = 1;
    for (uint32_t i = 0; i < vlen; i++) {
      struct msghdr *m = &h->rx_msgs[i].msg_hdr;
      m->msg_name = &h->rx_names[i];
      m->msg_namelen = sizeof(sockaddr_any);
      m->msg_iov = &h->rx_iov[i];
      m->msg_iovlen = 1;
      m->msg_control = &h->rx_ctrl[i];
      m->msg_controllen = sizeof(gro_ctrl);
      m->msg_flags = 0;
      h->rx_msgs[i].msg_len = 0;
    }
    int r;
    do {
      r = recvmmsg(h->fd, h->rx_msgs, vlen, MSG_DONTWAIT, NULL);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) return (int)n;
      h->last_errno = e;
      if (recv_error_is_transient(e)) {
        h->rx_errors++;
        *more = true; /* the error is consumed; data may follow */
        return (int)n;
      }
      return n > 0 ? (int)n : -e; /* a fatal error comes back on the next wake-up */
    }
    received = true;
    filled = (uint32_t)r == vlen;
    h->pend_n = (uint32_t)r;
    h->pend_i = 0;
    h->pend_open = false;
    uint32_t segs = 0;
    for (uint32_t i = 0; i < (uint32_t)r; i++) {
      uint32_t len = h->rx_msgs[i].msg_len, g = gro_size(&h->rx_msgs[i].msg_hdr);
      segs += g && g < len ? (len + g - 1) / g : 1;
    }
    h->rx_avg_segs = r > 0 ? (segs + (uint32_t)r - 1) / (uint32_t)r : 1;
  }
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

static void on_idle(uv_idle_t *idle);

/* GRO: keeps the loop coming back (idle handle) while datagrams wait in the scratch. */
static void gro_schedule(mg_io *h) {
  bool want = !h->closed && h->polling && gro_pending(h);
  if (want == h->idle_active || !h->idle_open) return;
  if (want)
    h->idle_active = uv_idle_start(&h->idle, on_idle) == 0;
  else {
    uv_idle_stop(&h->idle);
    h->idle_active = false;
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

static void on_idle(uv_idle_t *idle) {
  pump(idle->data);
}

/* start(handle, rxBuf: Uint8Array, rxLens: Int32Array, rxAddrs: Uint8Array | null,
         slots, slotSize, onBatch: (count) => void) */
static napi_value js_start(napi_env env, napi_callback_info info) {
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
static bool wait_writable(mg_io *h, int64_t *deadline, int err) {
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

struct batch {
  uint8_t *buf;
  int32_t *lens;
  uint8_t *addrs;
  uint32_t count, slot_size;
};

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

static napi_value count_value(napi_env env, uint32_t n) {
  napi_value v;
  napi_create_uint32(env, n, &v);
  return v;
}

/* tunWrite(handle, buf, lens, count, slotSize) -> number of packets not written */
static napi_value js_tun_write(napi_env env, napi_callback_info info) {
  struct batch b;
  mg_io *h = get_batch(env, info, false, &b);
  if (!h) return NULL;
  if (h->kind != KIND_TUN) THROW_TYPE(env, "tunWrite: not a TUN handle");
  if (h->closed) {
    h->tx_errors += b.count;
    return count_value(env, b.count);
  }
  uint32_t errors = 0;
  int64_t deadline = 0;
  for (uint32_t i = 0; i < b.count; i++) {
    const uint8_t *p = b.buf + (size_t)i * b.slot_size;
    for (;;) {
      ssize_t r = write(h->fd, p, (size_t)b.lens[i]);
      if (r >= 0) {
        if (r != b.lens[i]) errors++;
        break;
      }
      int e = errno;
      if (e == EINTR) continue;
      h->last_errno = e;
      if ((e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) && wait_writable(h, &deadline, e)) continue;
      errors++;
      break;
    }
  }
  h->tx_packets += b.count - errors;
  h->tx_errors += errors;
  return count_value(env, errors);
}

static bool ensure_tx(mg_io *h) {
  if (h->tx_msgs) return true;
  h->tx_msgs = calloc(MAX_SLOTS, sizeof *h->tx_msgs);
  h->tx_iov = calloc(MAX_SLOTS, sizeof *h->tx_iov);
  h->tx_names = calloc(MAX_SLOTS, sizeof *h->tx_names);
  h->tx_ctrl = calloc(MAX_SLOTS, sizeof *h->tx_ctrl);
  h->tx_first = calloc(MAX_SLOTS, sizeof *h->tx_first);
  h->tx_segs = calloc(MAX_SLOTS, sizeof *h->tx_segs);
  return h->tx_msgs && h->tx_iov && h->tx_names && h->tx_ctrl && h->tx_first && h->tx_segs;
}

/* GSO: how many datagrams from `pos` on can share one sendmmsg entry: same
   destination record, the size of the first (the last may be shorter), at most
   GSO_MAX_SEGMENTS and GSO_MAX_BYTES, and at most `room` iovecs. */
static uint32_t gso_run(const mg_io *h, const struct batch *b, uint32_t pos, uint32_t room) {
  const uint32_t seg = (uint32_t)b->lens[pos];
  if (!h->gso || seg == 0 || seg > h->gso_seg_limit) return 1;
  const uint8_t *rec = b->addrs + (size_t)pos * RECORD_LEN;
  uint32_t segs = 1, bytes = seg;
  uint32_t max = room < GSO_MAX_SEGMENTS ? room : GSO_MAX_SEGMENTS;
  while (pos + segs < b->count && segs < max) {
    uint32_t l = (uint32_t)b->lens[pos + segs];
    if (l == 0 || l > seg || bytes + l > GSO_MAX_BYTES) break;
    if (memcmp(b->addrs + (size_t)(pos + segs) * RECORD_LEN, rec, RECORD_LEN) != 0) break;
    segs++;
    bytes += l;
    if (l < seg) break; /* a shorter one ends the run */
  }
  return segs;
}

static bool gso_refusal(int e) {
  return e == EINVAL || e == EIO || e == ENOPROTOOPT || e == EMSGSIZE;
}

/* udpSend(handle, buf, lens, addrs, count, slotSize) -> number of datagrams not sent */
static napi_value js_udp_send(napi_env env, napi_callback_info info) {
  struct batch b;
  mg_io *h = get_batch(env, info, true, &b);
  if (!h) return NULL;
  if (h->kind != KIND_UDP) THROW_TYPE(env, "udpSend: not a UDP handle");
  if (h->closed) {
    h->tx_errors += b.count;
    return count_value(env, b.count);
  }
  if (!ensure_tx(h)) {
    throw_errno(env, "calloc", NULL, ENOMEM);
    return NULL;
  }
  /* Every datagram ends up counted exactly once, as sent or as an error:
     errors <= b.count. A GSO refusal rebuilds entries from an earlier
     position, so datagrams before `checked` already had their family check
     (and a mismatch its error) and are not counted again. */
  uint32_t errors = 0;
  int64_t deadline = 0;
  uint32_t pos = 0;     /* next datagram to put into an entry */
  uint32_t checked = 0; /* datagrams before this one were family-checked */
  while (pos < b.count) {
    /* Up to MAX_SLOTS entries using up to MAX_SLOTS iovecs (one per datagram). */
    uint32_t n = 0, iovs = 0;
    while (pos < b.count && n < MAX_SLOTS && iovs < MAX_SLOTS) {
      socklen_t alen;
      bool fits = sockaddr_from_record(&h->tx_names[n], &alen, b.addrs + (size_t)pos * RECORD_LEN, h->family);
      if (pos >= checked) {
        checked = pos + 1;
        if (!fits) errors++; /* an IPv6 destination on an IPv4 socket */
      }
      if (!fits) {
        h->last_errno = EAFNOSUPPORT;
        pos++;
        continue;
      }
      uint32_t segs = gso_run(h, &b, pos, MAX_SLOTS - iovs);
      for (uint32_t k = 0; k < segs; k++) {
        h->tx_iov[iovs + k].iov_base = b.buf + (size_t)(pos + k) * b.slot_size;
        h->tx_iov[iovs + k].iov_len = (size_t)b.lens[pos + k];
      }
      struct msghdr *m = &h->tx_msgs[n].msg_hdr;
      memset(m, 0, sizeof *m);
      m->msg_name = &h->tx_names[n];
      m->msg_namelen = alen;
      m->msg_iov = &h->tx_iov[iovs];
      m->msg_iovlen = segs;
      if (segs > 1) {
        m->msg_control = h->tx_ctrl[n].buf;
        m->msg_controllen = sizeof h->tx_ctrl[n].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(m);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t seg = (uint16_t)b.lens[pos];
        memcpy(CMSG_DATA(c), &seg, sizeof seg);
      }
      h->tx_first[n] = pos;
      h->tx_segs[n] = segs;
      iovs += segs;
      pos += segs;
      n++;
    }
    uint32_t i = 0;
    while (i < n) {
      int r = sendmmsg(h->fd, h->tx_msgs + i, n - i, MSG_DONTWAIT);
      if (r > 0) {
        for (uint32_t k = i; k < i + (uint32_t)r; k++) {
          if (h->tx_segs[k] > 1) {
            h->gso_sends++;
            h->gso_segments += h->tx_segs[k];
          }
        }
        i += (uint32_t)r;
        continue;
      }
      int e = r < 0 ? errno : EIO;
      if (e == EINTR) continue;
      h->last_errno = e;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        if (wait_writable(h, &deadline, e)) continue;
        for (; i < n; i++) errors += h->tx_segs[i];
        break;
      }
      if (h->tx_segs[i] > 1 && gso_refusal(e)) {
        /* Nothing of this entry went out: resend its datagrams one by one (and
           rebuild the rest of the batch). EMSGSIZE: a segment larger than the
           path MTU, don't coalesce that size again; otherwise the kernel or
           the route cannot do GSO at all: stop using it on this socket. */
        h->gso_refused++;
        if (e == EMSGSIZE) {
          h->gso_seg_limit = (uint32_t)b.lens[h->tx_first[i]] - 1;
        } else {
          h->gso = false;
          h->gso_fallback_errno = e;
        }
        pos = h->tx_first[i];
        break;
      }
      /* This datagram (or run) cannot go (no route, refused, too big, bad scope...): skip it. */
      errors += h->tx_segs[i];
      i++;
    }
  }
  h->tx_packets += b.count - errors;
  h->tx_errors += errors;
  return count_value(env, errors);
}

/* ---------------------------------------------------------------- open / close / info */

/* tunOpen(name) -> { handle, name }: creates the TUN device or attaches to a persistent one. */
static napi_value js_tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 1, len;
  napi_value argv[1];
  char name[IFNAMSIZ];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_string(env, argv[0], name, sizeof name, &len))
    THROW_TYPE(env, "tunOpen: name must be a string of at most 15 bytes");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_errno(env, "open", "/dev/net/tun", errno);
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    throw_errno(env, "ioctl(TUNSETIFF)", name, e);
    return NULL;
  }
  napi_value handle = make_handle(env, fd, KIND_TUN, 0, NULL);
  if (!handle) return NULL;
  napi_value result, actual;
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  NAPI_OK(env, napi_create_object(env, &result));
  NAPI_OK(env, napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &actual));
  NAPI_OK(env, napi_set_named_property(env, result, "handle", handle));
  NAPI_OK(env, napi_set_named_property(env, result, "name", actual));
  return result;
}

static void set_sock_buf(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes); /* capped by net.core.*mem_max */
}

/* udpOpen(family: 4 | 6, address: Uint8Array(24 record, port ignored), port, bufBytes,
           flags = 0 (OPEN_GSO | OPEN_GRO)) -> { handle, port, family, gso, gro }
   gso/gro tell what the kernel accepted: UDP_SEGMENT known (probed with
   getsockopt), UDP_GRO set. */
static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) THROW_TYPE(env, "udpOpen: expected 4 to 6 arguments");
  uint32_t family, port, buf_bytes, flags = 0, mark = 0;
  void *d;
  size_t n;
  if (!get_u32(env, argv[0], &family) || (family != 4 && family != 6))
    THROW_TYPE(env, "udpOpen: family must be 4 or 6");
  if (!get_typed(env, argv[1], napi_uint8_array, &d, &n) || n < RECORD_LEN)
    THROW_TYPE(env, "udpOpen: address must be a 24-byte endpoint record");
  uint8_t rec[RECORD_LEN];
  memcpy(rec, d, RECORD_LEN);
  if (!get_u32(env, argv[2], &port) || port > 65535) THROW_RANGE(env, "udpOpen: port must be in 0..65535");
  if (!get_u32(env, argv[3], &buf_bytes) || buf_bytes > (1u << 30))
    THROW_RANGE(env, "udpOpen: bufBytes out of range");
  if (argc >= 5) {
    napi_valuetype ft;
    NAPI_OK(env, napi_typeof(env, argv[4], &ft));
    if (ft != napi_undefined && (!get_u32(env, argv[4], &flags) || (flags & ~OPEN_KNOWN_FLAGS)))
      THROW_RANGE(env, "udpOpen: unknown flags");
  }
  if (argc >= 6) {
    napi_valuetype mt;
    NAPI_OK(env, napi_typeof(env, argv[5], &mt));
    if (mt != napi_undefined && !get_u32(env, argv[5], &mark)) THROW_RANGE(env, "udpOpen: mark must be in 0..2^32-1");
  }
  rec[REC_PORT] = (uint8_t)(port >> 8);
  rec[REC_PORT + 1] = (uint8_t)port;
  int af = family == 6 ? AF_INET6 : AF_INET;
  sockaddr_any sa;
  socklen_t alen;
  if (!sockaddr_from_record(&sa, &alen, rec, af)) THROW_TYPE(env, "udpOpen: an IPv4 socket needs an IPv4 address");
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    throw_errno(env, "socket", af == AF_INET6 ? "AF_INET6" : "AF_INET", errno);
    return NULL;
  }
  if (af == AF_INET6) {
    int off = 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) {
      int e = errno;
      close(fd);
      throw_errno(env, "setsockopt(IPV6_V6ONLY)", NULL, e);
      return NULL;
    }
  }
  /* The firewall mark of every packet this socket sends (policy routing keeps
     a tunnel's own packets out of its default route, as wg-quick's FwMark). */
  if (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) {
    int e = errno;
    close(fd);
    throw_errno(env, "setsockopt(SO_MARK)", NULL, e);
    return NULL;
  }
  set_sock_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, (int)buf_bytes);
  set_sock_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, (int)buf_bytes);
  if (bind(fd, &sa.sa, alen) < 0) {
    int e = errno;
    close(fd);
    char detail[16];
    snprintf(detail, sizeof detail, "port %u", port);
    throw_errno(env, "bind", detail, e);
    return NULL;
  }
  sockaddr_any local;
  socklen_t llen = sizeof local;
  if (getsockname(fd, &local.sa, &llen) < 0) {
    int e = errno;
    close(fd);
    throw_errno(env, "getsockname", NULL, e);
    return NULL;
  }
  uint16_t bound = ntohs(af == AF_INET6 ? local.v6.sin6_port : local.v4.sin_port);
  bool gso = false, gro = false;
  if (flags & OPEN_GSO) {
    int v = 0;
    socklen_t vl = sizeof v;
    gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &vl) == 0; /* ENOPROTOOPT before 4.18 */
  }
  if (flags & OPEN_GRO) {
    int one = 1;
    gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0; /* ENOPROTOOPT before 5.0 */
  }
  if (flags & OPEN_TEST_NO_CHECK) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof one);
  }
  mg_io *h = NULL;
  napi_value handle = make_handle(env, fd, KIND_UDP, af, &h);
  if (!handle) return NULL;
  h->gso = gso;
  h->gso_seg_limit = GSO_MAX_BYTES;
  h->gro = gro;
  napi_value result, v;
  NAPI_OK(env, napi_create_object(env, &result));
  NAPI_OK(env, napi_set_named_property(env, result, "handle", handle));
  NAPI_OK(env, napi_create_uint32(env, bound, &v));
  NAPI_OK(env, napi_set_named_property(env, result, "port", v));
  NAPI_OK(env, napi_create_uint32(env, family, &v));
  NAPI_OK(env, napi_set_named_property(env, result, "family", v));
  NAPI_OK(env, napi_get_boolean(env, gso, &v));
  NAPI_OK(env, napi_set_named_property(env, result, "gso", v));
  NAPI_OK(env, napi_get_boolean(env, gro, &v));
  NAPI_OK(env, napi_set_named_property(env, result, "gro", v));
  return result;
}

/* close(handle): idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) THROW_TYPE(env, "close: expected a handle");
  mg_io *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  io_close(h);
  return NULL;
}

static void set_num(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  napi_create_double(env, value, &v);
  napi_set_named_property(env, obj, key, v);
}

/* stats(handle) -> counters (plain numbers) */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) THROW_TYPE(env, "stats: expected a handle");
  mg_io *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  napi_value o, s;
  NAPI_OK(env, napi_create_object(env, &o));
  set_num(env, o, "rxPackets", (double)h->rx_packets);
  set_num(env, o, "rxBatches", (double)h->rx_batches);
  set_num(env, o, "rxDropped", (double)h->rx_dropped);
  set_num(env, o, "rxErrors", (double)h->rx_errors);
  set_num(env, o, "txPackets", (double)h->tx_packets);
  set_num(env, o, "txErrors", (double)h->tx_errors);
  set_num(env, o, "txWaits", (double)h->tx_waits);
  set_num(env, o, "gsoSends", (double)h->gso_sends);
  set_num(env, o, "gsoSegments", (double)h->gso_segments);
  set_num(env, o, "gsoRefused", (double)h->gso_refused);
  set_num(env, o, "groReceives", (double)h->gro_receives);
  set_num(env, o, "groSegments", (double)h->gro_segments);
  NAPI_OK(env, napi_get_boolean(env, h->gso, &s));
  NAPI_OK(env, napi_set_named_property(env, o, "gso", s));
  NAPI_OK(env, napi_get_boolean(env, h->gro, &s));
  NAPI_OK(env, napi_set_named_property(env, o, "gro", s));
  NAPI_OK(env, napi_create_string_utf8(env, h->gso_fallback_errno ? errno_name(h->gso_fallback_errno) : "",
                                       NAPI_AUTO_LENGTH, &s));
  NAPI_OK(env, napi_set_named_property(env, o, "gsoFallback", s));
  NAPI_OK(env, napi_create_string_utf8(env, h->last_errno ? errno_name(h->last_errno) : "",
                                       NAPI_AUTO_LENGTH, &s));
  NAPI_OK(env, napi_set_named_property(env, o, "lastError", s));
  NAPI_OK(env, napi_create_string_utf8(env, h->fatal_errno ? errno_name(h->fatal_errno) : "",
                                       NAPI_AUTO_LENGTH, &s));
  NAPI_OK(env, napi_set_named_property(env, o, "fatalError", s));
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
      {"tunOpen", NULL, js_tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpOpen", NULL, js_udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunWrite", NULL, js_tun_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSend", NULL, js_udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ifindex", NULL, js_ifindex, NULL, NULL, NULL, napi_enumerable, NULL},
      {"errnoName", NULL, js_errno_name, NULL, NULL, NULL, napi_enumerable, NULL},
      {"inNetns", NULL, js_in_netns, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  napi_value v;
  napi_create_uint32(env, API_VERSION, &v);
  napi_set_named_property(env, exports, "apiVersion", v);
  napi_create_uint32(env, RECORD_LEN, &v);
  napi_set_named_property(env, exports, "recordLen", v);
  napi_create_uint32(env, MAX_SLOTS, &v);
  napi_set_named_property(env, exports, "maxSlots", v);
  napi_create_uint32(env, MAX_SLOT_SIZE, &v);
  napi_set_named_property(env, exports, "maxSlotSize", v);
  return exports;
}
