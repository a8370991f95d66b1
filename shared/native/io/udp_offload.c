// meshgate_io, UDP offload unit.
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

#include "meshgate_io.h"

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
int udp_read_gro(mg_io *h, uint8_t *buf, int32_t *lens, uint8_t *addrs, bool *more) {
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

/* GRO: keeps the loop coming back (idle handle) while datagrams wait in the scratch. */
void gro_schedule(mg_io *h) {
  bool want = !h->closed && h->polling && gro_pending(h);
  if (want == h->idle_active || !h->idle_open) return;
  if (want)
    h->idle_active = uv_idle_start(&h->idle, on_idle) == 0;
  else {
    uv_idle_stop(&h->idle);
    h->idle_active = false;
  }
}

/* GSO: how many datagrams from `pos` on can share one sendmmsg entry: same
   destination record, the size of the first (the last may be shorter), at most
   GSO_MAX_SEGMENTS and GSO_MAX_BYTES, and at most `room` iovecs. */
uint32_t gso_run(const mg_io *h, const struct batch *b, uint32_t pos, uint32_t room) {
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

bool gso_refusal(int e) {
  return e == EINVAL || e == EIO || e == ENOPROTOOPT || e == EMSGSIZE;
}
