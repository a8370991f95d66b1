// meshgate_io, UDP unit: endpoint records <-> sockaddrs, udpOpen, the plain
// recvmmsg() read of a receive batch and udpSend (sendmmsg, coalescing runs for
// GSO with gso_run() from udp_offload.c). See napi.c for the packet flow.

#include "meshgate_io.h"

void record_from_sockaddr(uint8_t *rec, const sockaddr_any *sa) {
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

bool recv_error_is_transient(int e) {
  switch (e) {
    case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: case EHOSTDOWN:
    case ENETDOWN: case ENOBUFS: case ENOMEM: case EMSGSIZE: case ETIMEDOUT:
    case EPROTO: case ECONNRESET: case EPERM: case EACCES:
      return true;
    default:
      return false;
  }
}

int udp_read(mg_io *h, uint8_t *buf, int32_t *lens, uint8_t *addrs, bool *more) {
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

/* udpSend(handle, buf, lens, addrs, count, slotSize) -> number of datagrams not sent */
napi_value js_udp_send(napi_env env, napi_callback_info info) {
  struct batch b;
  napi_value early;
  mg_io *h = begin_send(env, info, KIND_UDP, &b, &early);
  if (!h) return early;
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

static void set_sock_buf(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes); /* capped by net.core.*mem_max */
}

/* udpOpen(family: 4 | 6, address: Uint8Array(24 record, port ignored), port, bufBytes,
           flags = 0 (OPEN_GSO | OPEN_GRO)) -> { handle, port, family, gso, gro }
   gso/gro tell what the kernel accepted: UDP_SEGMENT known (probed with
   getsockopt), UDP_GRO set. */
napi_value js_udp_open(napi_env env, napi_callback_info info) {
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
