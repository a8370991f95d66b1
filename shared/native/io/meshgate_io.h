// meshgate_io private header: what the units of the native I/O addon share
// (limits, the handle struct, helpers). Not part of any public interface; the
// JS side sees only the exports defined in napi.c.

#ifndef MESHGATE_IO_H
#define MESHGATE_IO_H

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

/* A send batch as JS passed it (see begin_send). */
struct batch {
  uint8_t *buf;
  int32_t *lens;
  uint8_t *addrs;
  uint32_t count, slot_size;
};

/* Everything below is shared between the units only, not exported from the addon. */
#pragma GCC visibility push(hidden)

/* napi.c: errors, argument helpers, handles */
const char *errno_name(int err);
void throw_errno(napi_env env, const char *syscall, const char *detail, int err);
bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *count);
bool get_u32(napi_env env, napi_value v, uint32_t *out);
bool get_string(napi_env env, napi_value v, char *buf, size_t size, size_t *len);
napi_value make_handle(napi_env env, int fd, int kind, int family, mg_io **out);
mg_io *get_handle(napi_env env, napi_value v);

/* batch.c: the receive pump, start(), send batches */
void on_idle(uv_idle_t *idle);
napi_value js_start(napi_env env, napi_callback_info info);
bool wait_writable(mg_io *h, int64_t *deadline, int err);
mg_io *begin_send(napi_env env, napi_callback_info info, int kind, struct batch *b, napi_value *early);
napi_value count_value(napi_env env, uint32_t n);

/* tun.c */
int tun_read(mg_io *h, uint8_t *buf, int32_t *lens, bool *more);
napi_value js_tun_write(napi_env env, napi_callback_info info);
napi_value js_tun_open(napi_env env, napi_callback_info info);

/* udp.c */
void record_from_sockaddr(uint8_t *rec, const sockaddr_any *sa);
bool recv_error_is_transient(int e);
int udp_read(mg_io *h, uint8_t *buf, int32_t *lens, uint8_t *addrs, bool *more);
napi_value js_udp_send(napi_env env, napi_callback_info info);
napi_value js_udp_open(napi_env env, napi_callback_info info);

/* udp_offload.c */
int udp_read_gro(mg_io *h, uint8_t *buf, int32_t *lens, uint8_t *addrs, bool *more);
void gro_schedule(mg_io *h);
uint32_t gso_run(const mg_io *h, const struct batch *b, uint32_t pos, uint32_t room);
bool gso_refusal(int e);

#pragma GCC visibility pop

#endif
