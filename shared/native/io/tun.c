// meshgate_io, TUN unit: tunOpen (create or attach a device), the read of a
// receive batch (one readv() per packet, oversized packets dropped) and tunWrite
// (one write() per packet). See napi.c for the packet flow and the error rules.

#include "meshgate_io.h"

/* ---------------------------------------------------------------- receive */

/* Reads TUN packets into slots. Returns the count, or -errno when the device is unusable. */
int tun_read(mg_io *h, uint8_t *buf, int32_t *lens, bool *more) {
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

/* tunWrite(handle, buf, lens, count, slotSize) -> number of packets not written */
napi_value js_tun_write(napi_env env, napi_callback_info info) {
  struct batch b;
  napi_value early;
  mg_io *h = begin_send(env, info, KIND_TUN, &b, &early);
  if (!h) return early;
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

/* ---------------------------------------------------------------- open / close / info */

/* tunOpen(name) -> { handle, name }: creates the TUN device or attaches to a persistent one. */
napi_value js_tun_open(napi_env env, napi_callback_info info) {
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
