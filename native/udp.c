// UDP sockets for TFTP transfers and for the DHCP server, with one call that sends a
// whole TFTP window.
//
// Why native: Node's dgram costs about 6 us per datagram sent here, against under
// 3 us for a plain sendto and about 0.5 us per datagram by UDP GSO
// (bench/udp-send.ts); with dgram a windowed transfer (atftp, windowsize 16, from
// the server the tests run) reached 113 MiB/s, with GSO 217-252 MiB/s. Node 20 has neither sendmmsg nor UDP GSO.
// With UDP_SEGMENT (Linux 4.18+) the kernel takes a window of equal-sized DATA
// packets in one call and cuts it into separate datagrams (in the NIC, or in
// software before the wire). Node's dgram cannot read the path MTU either, which
// blksize must stay under. For DHCP, dgram's send goes through a DNS lookup, a
// request object and two deferred callbacks per reply, and its receive builds an
// address object per datagram: at 5,000 DORA/s from perfdhcp, perf put a fifth of
// the event loop's time there. Everything else about both protocols
// stays in TypeScript (src/udp.ts): this file only binds, receives, sends and asks
// the MTU.
//
// The socket is IPv4, non-blocking, polled on the calling thread's libuv loop
// (each worker thread has its own). Addresses cross the boundary as a uint32 in
// host order and a port, so the hot path never formats or parses strings.
#define _GNU_SOURCE  // sendmmsg
#include "addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

// Kernels before 6.x accept at most 64 segments per GSO send, and an IPv4
// datagram (the unsegmented whole) is at most 65,507 bytes of payload.
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000
#define MMSG_BATCH 64
// The largest UDP payload: no datagram arrives cut. Each is copied out at once, so
// one buffer serves every socket of a thread.
#define RECV_MAX 65536
// Datagrams handled per readiness event before yielding to the rest of the loop.
#define RECV_BUDGET 64
// bind()'s flags.
#define BIND_SEGMENTATION 1
#define BIND_REUSE_ADDRESS 2
#define BIND_BROADCAST 4

static __thread unsigned char recv_buf[RECV_MAX];

// Received datagrams are copied into a slab: JS gets the slab and where the
// datagram is in it (one view, no buffer of its own). A buffer per datagram meant
// an ArrayBuffer per datagram, and sweeping those took over half of each minor GC
// at thousands of datagrams a second. A datagram larger than a quarter slab gets a
// buffer of its own.
#define SLAB_BYTES 16384

typedef struct {
  polled_t io;  // its callback: (slab: Buffer, offset: number, length: number, address: number, port: number) => void
  int gso;      // send windows by UDP GSO: asked at bind, dropped for good if the kernel refuses it
  napi_ref slab;  // the slab being filled; NULL until the first datagram
  unsigned char* slab_data;
  size_t slab_used;
} sock_t;

#define CHECK(call)                                  \
  do {                                               \
    if ((call) != napi_ok) return throw_last(env);   \
  } while (0)

static napi_value throw_last(napi_env env) {
  const napi_extended_error_info* info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "native call failed");
  return NULL;
}

// The error's code is the errno's name (EADDRINUSE), as Node's own errors have it.
static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, strerrorname_np(err), msg);
  return NULL;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

// Where datagram of n bytes goes: argv[0] (its slab, or its own buffer) and argv[1] (its offset there).
static int place(napi_env env, sock_t* s, size_t n, napi_value* argv) {
  void* data;
  if (n > SLAB_BYTES / 4) {
    if (napi_create_buffer_copy(env, n, recv_buf, &data, &argv[0]) != napi_ok) return 0;
    argv[1] = number(env, 0);
    return 1;
  }
  if (!s->slab || s->slab_used + n > SLAB_BYTES) {  // a fresh slab; the old one lives while its views do
    napi_value fresh;
    if (napi_create_buffer(env, SLAB_BYTES, &data, &fresh) != napi_ok) return 0;
    if (s->slab) napi_delete_reference(env, s->slab);
    napi_create_reference(env, fresh, 1, &s->slab);
    s->slab_data = data;
    s->slab_used = 0;
  }
  napi_get_reference_value(env, s->slab, &argv[0]);
  memcpy(s->slab_data + s->slab_used, recv_buf, n);
  argv[1] = number(env, (double)s->slab_used);
  s->slab_used += n;
  return 1;
}

static void drop_slab(polled_t* io) {
  sock_t* s = (sock_t*)io;
  if (s->slab) napi_delete_reference(io->env, s->slab);
  s->slab = NULL;
}

static void on_readable(polled_t* io, napi_value cb, napi_value recv) {
  sock_t* s = (sock_t*)io;
  napi_env env = io->env;
  for (int i = 0; i < RECV_BUDGET && !io->closing; i++) {
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(io->fd, recv_buf, sizeof recv_buf, 0, (struct sockaddr*)&from, &len);
    if (n < 0) break;  // EAGAIN: drained. Other errors (ICMP-reported) carry no datagram.
    napi_value argv[5];
    if (!place(env, s, (size_t)n, argv)) break;
    argv[2] = number(env, (double)n);
    argv[3] = number(env, ntohl(from.sin_addr.s_addr));
    argv[4] = number(env, ntohs(from.sin_port));
    if (!polled_call(io, cb, recv, 5, argv)) break;
  }
}

static sock_t* unwrap(napi_env env, napi_value v) {
  void* p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL || ((sock_t*)p)->io.closing) {
    napi_throw_error(env, NULL, "socket is closed");
    return NULL;
  }
  return p;
}

static int get_u32(napi_env env, napi_value v, uint32_t* out) { return napi_get_value_uint32(env, v, out) == napi_ok; }

static struct sockaddr_in to_addr(uint32_t ip, uint32_t port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons((uint16_t)port);
  return a;
}

static int set_int_option(int fd, int level, int name, int value) { return setsockopt(fd, level, name, &value, sizeof value); }

// bind(address: string, port, onMessage, flags, recvBuffer): [socket, port]. Port 0:
// the kernel picks (a TFTP transfer's TID). flags: BIND_SEGMENTATION sends windows
// by GSO (else sendmmsg: RACKJOIN_TFTP_GSO=0, and the tests of that path);
// BIND_REUSE_ADDRESS, which Linux needs to bind an address next to a wildcard
// socket on the same port (DHCP); BIND_BROADCAST. recvBuffer 0: the default size;
// above net.core.rmem_max the kernel caps it, which is not an error.
static napi_value bind_socket(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[64];
  size_t hostlen;
  uint32_t port, flags, rcvbuf;
  if (argc < 5 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &hostlen) != napi_ok ||
      !get_u32(env, argv[1], &port) || port > 65535 || !get_u32(env, argv[3], &flags) || !get_u32(env, argv[4], &rcvbuf)) {
    napi_throw_type_error(env, NULL, "bind(address, port, onMessage, flags, recvBuffer)");
    return NULL;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "bind: not an IPv4 address");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  if (((flags & BIND_REUSE_ADDRESS) && set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0) ||
      ((flags & BIND_BROADCAST) && set_int_option(fd, SOL_SOCKET, SO_BROADCAST, 1) < 0) ||
      (rcvbuf && set_int_option(fd, SOL_SOCKET, SO_RCVBUF, (int)rcvbuf) < 0)) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt", err);
  }
  if (bind(fd, (struct sockaddr*)&a, sizeof a) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr*)&a, &len);

  sock_t* s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_errno(env, "bind", ENOMEM);
  }
  s->gso = (flags & BIND_SEGMENTATION) != 0;
  napi_value ext;
  if (!polled_start(env, &s->io, fd, argv[2], "rackjoin:udp", on_readable, &ext)) {
    close(fd);
    free(s);
    return throw_errno(env, "uv_poll_init", EINVAL);
  }
  s->io.closed = drop_slab;
  napi_value out;
  CHECK(napi_create_array_with_length(env, 2, &out));
  napi_set_element(env, out, 0, ext);
  napi_set_element(env, out, 1, number(env, ntohs(a.sin_port)));
  return out;
}

static int send_one(sock_t* s, const struct sockaddr_in* to, const void* data, size_t len) {
  return sendto(s->io.fd, data, len, 0, (const struct sockaddr*)to, sizeof *to) < 0 ? errno : 0;
}

// One datagram per segment, batched by sendmmsg: the path when GSO is refused.
static int send_mmsg(sock_t* s, struct sockaddr_in* to, unsigned char* data, size_t len, size_t seg) {
  struct mmsghdr msgs[MMSG_BATCH];
  struct iovec iov[MMSG_BATCH];
  size_t off = 0;
  while (off < len) {
    unsigned n = 0;
    for (; n < MMSG_BATCH && off < len; n++, off += seg) {
      iov[n].iov_base = data + off;
      iov[n].iov_len = len - off < seg ? len - off : seg;
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_name = to;
      msgs[n].msg_hdr.msg_namelen = sizeof *to;
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
    }
    for (unsigned done = 0; done < n;) {
      int r = sendmmsg(s->io.fd, msgs + done, n - done, 0);
      if (r < 0) return errno;
      done += (unsigned)r;
    }
  }
  return 0;
}

static int send_gso(sock_t* s, struct sockaddr_in* to, unsigned char* data, size_t len, size_t seg) {
  size_t per = GSO_MAX_BYTES / seg;
  if (per > GSO_MAX_SEGMENTS) per = GSO_MAX_SEGMENTS;
  size_t chunk = per * seg;
  size_t off = 0;
  while (off < len) {
    size_t n = len - off < chunk ? len - off : chunk;
    if (n <= seg) return send_one(s, to, data + off, n);
    struct iovec iov = {.iov_base = data + off, .iov_len = n};
    union {
      char buf[CMSG_SPACE(sizeof(uint16_t))];
      struct cmsghdr align;
    } ctrl;
    memset(&ctrl, 0, sizeof ctrl);
    struct msghdr msg = {
        .msg_name = to,
        .msg_namelen = sizeof *to,
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = ctrl.buf,
        .msg_controllen = sizeof ctrl.buf,
    };
    struct cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t gso = (uint16_t)seg;
    memcpy(CMSG_DATA(cm), &gso, sizeof gso);
    if (sendmsg(s->io.fd, &msg, 0) < 0) {
      int err = errno;
      // Refused for this socket or path (old kernel, IPsec, no checksum offload
      // on an old kernel): fall back for good, and send this window without it.
      if (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP) {
        s->gso = 0;
        return send_mmsg(s, to, data + off, len - off, seg);
      }
      return err;
    }
    off += n;
  }
  return 0;
}

// send(socket, address, port, data, segment): 0, or the errno of a failed send
// (EAGAIN: the socket's buffer is full, the rest was not sent). Segment 0: data is
// one datagram. Otherwise data is consecutive datagrams of `segment` bytes (the
// last may be shorter), each sent as its own datagram.
static napi_value send_datagrams(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t* s = argc == 5 ? unwrap(env, argv[0]) : NULL;
  if (!s) return NULL;
  uint32_t ip, port, seg;
  void* data;
  size_t len;
  if (!get_u32(env, argv[1], &ip) || !get_u32(env, argv[2], &port) || napi_get_buffer_info(env, argv[3], &data, &len) != napi_ok ||
      !get_u32(env, argv[4], &seg) || seg > GSO_MAX_BYTES) {
    napi_throw_type_error(env, NULL, "send(socket, address, port, buffer, segment)");
    return NULL;
  }
  struct sockaddr_in to = to_addr(ip, port);
  int err = seg == 0 ? send_one(s, &to, data, len) : s->gso ? send_gso(s, &to, data, len, seg) : send_mmsg(s, &to, data, len, seg);
  return number(env, err);
}

// sendEach(socket, datagrams: Buffer[], addresses: Uint32Array, ports: Uint16Array,
// errors: Int32Array): each datagram to its own destination, MMSG_BATCH per
// sendmmsg; errors[i] is 0 or the errno of datagram i (the others still go). One
// call for the replies of a whole burst: on a link whose other end is on this host
// (a veth, a bridge) each send also runs the receiver's side and wakes it, and a
// batch wakes it once.
static napi_value send_each(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sock_t* s = argc == 5 ? unwrap(env, argv[0]) : NULL;
  if (!s) return NULL;
  uint32_t count;
  void *ips, *ports, *errors;
  size_t nips, nports, nerrors;
  napi_typedarray_type t1, t2, t3;
  if (napi_get_array_length(env, argv[1], &count) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &t1, &nips, &ips, NULL, NULL) != napi_ok || t1 != napi_uint32_array ||
      napi_get_typedarray_info(env, argv[3], &t2, &nports, &ports, NULL, NULL) != napi_ok || t2 != napi_uint16_array ||
      napi_get_typedarray_info(env, argv[4], &t3, &nerrors, &errors, NULL, NULL) != napi_ok || t3 != napi_int32_array ||
      nips < count || nports < count || nerrors < count) {
    napi_throw_type_error(env, NULL, "sendEach(socket, datagrams, addresses, ports, errors)");
    return NULL;
  }
  struct mmsghdr msgs[MMSG_BATCH];
  struct iovec iov[MMSG_BATCH];
  struct sockaddr_in to[MMSG_BATCH];
  for (uint32_t base = 0; base < count; base += MMSG_BATCH) {
    unsigned n = count - base < MMSG_BATCH ? count - base : MMSG_BATCH;
    for (unsigned k = 0; k < n; k++) {
      napi_value b;
      void* data;
      size_t len;
      if (napi_get_element(env, argv[1], base + k, &b) != napi_ok || napi_get_buffer_info(env, b, &data, &len) != napi_ok) {
        napi_throw_type_error(env, NULL, "sendEach: datagrams must be Buffers");
        return NULL;
      }
      to[k] = to_addr(((uint32_t*)ips)[base + k], ((uint16_t*)ports)[base + k]);
      iov[k].iov_base = data;
      iov[k].iov_len = len;
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_name = &to[k];
      msgs[k].msg_hdr.msg_namelen = sizeof to[k];
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      ((int32_t*)errors)[base + k] = 0;
    }
    for (unsigned done = 0; done < n;) {
      int r = sendmmsg(s->io.fd, msgs + done, n - done, 0);
      if (r > 0) {
        done += (unsigned)r;
      } else {  // the first of the rest failed: say so, and go on with the next
        ((int32_t*)errors)[base + done] = r < 0 ? errno : EIO;
        done++;
      }
    }
  }
  return NULL;
}

static napi_value close_socket(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void* p = NULL;
  if (argc == 1 && napi_get_value_external(env, argv[0], &p) == napi_ok && p) polled_close(p);
  return NULL;
}

// pathMtu(address): the MTU of the route to address (the interface's, or a smaller
// one the kernel learned by PMTU discovery), 0 if there is no route. A throwaway
// socket is connected for the lookup: connecting a transfer's own socket would make
// the kernel drop strangers' packets that RFC 1350 wants answered with error 5.
static napi_value path_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t ip;
  if (argc != 1 || !get_u32(env, argv[0], &ip)) {
    napi_throw_type_error(env, NULL, "pathMtu(address)");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  struct sockaddr_in to = to_addr(ip, 9);  // any port: a UDP connect sends nothing
  int mtu = 0;
  socklen_t len = sizeof mtu;
  if (connect(fd, (struct sockaddr*)&to, sizeof to) < 0 || getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &len) < 0) mtu = 0;
  close(fd);
  return number(env, mtu);
}

void register_udp(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bind", NULL, bind_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, send_datagrams, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendEach", NULL, send_each, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_socket, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pathMtu", NULL, path_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
