// Conflict probes for DHCP pool addresses: is anyone already using an address we
// are about to offer? (src/dhcp/conflict.ts decides when, and matches replies.)
//
// Why native: Node has no raw sockets. On the directly served link the question
// is an ARP request (RFC 5227 probe: sender IP 0.0.0.0, so no neighbour learns
// anything from it) on an AF_PACKET socket bound to that interface; any ARP packet
// whose sender is the address means it is in use. For relayed subnets it is an
// ICMP echo: a raw socket (we run as root for port 67), else an unprivileged ping
// socket (SOCK_DGRAM, IPPROTO_ICMP, where net.ipv4.ping_group_range allows it).
//
// One socket of each kind serves every probe in flight; it is non-blocking and
// polled on the loop of the thread that opened it (the DHCP server's), and each
// packet that matters is handed to a callback: (address, mac) for ARP senders,
// (address, sequence) for echo replies. Addresses are host-order uint32s.
#include "addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_MAX 1500
#define RECV_BUDGET 64
#define ARP_LEN 28  // Ethernet/IPv4 ARP payload

enum kind { ARP, ICMP_RAW, ICMP_DGRAM };

typedef struct {
  polled_t io;  // its callback: (address, mac: Buffer) for ARP, (address, sequence) for echo replies
  enum kind kind;
  int ifindex;
  unsigned char mac[6];  // ARP: the interface's own address, the probes' sender
  unsigned char buf[RECV_MAX];
} probe_t;

static napi_value fail(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, err == EPERM || err == EACCES ? "EPERM" : "ESOCKET", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_throw(env, error);
  return NULL;
}

static void call(probe_t* p, napi_value cb, napi_value recv, uint32_t address, napi_value second) {
  napi_value argv[2];
  napi_create_uint32(p->io.env, address, &argv[0]);
  argv[1] = second;
  polled_call(&p->io, cb, recv, 2, argv);
}

// An ARP packet from someone else on the link: its sender address and MAC.
static void arp_packet(probe_t* p, napi_value cb, napi_value recv, ssize_t n, const struct sockaddr_ll* from) {
  const unsigned char* a = p->buf;
  if (from->sll_pkttype == PACKET_OUTGOING || n < ARP_LEN) return;
  // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4
  if (a[0] != 0 || a[1] != 1 || a[2] != 8 || a[3] != 0 || a[4] != 6 || a[5] != 4) return;
  uint32_t sender;
  memcpy(&sender, a + 14, 4);
  if (sender == 0) return;  // another prober's question says nothing about who holds an address
  napi_value mac;
  void* copy;
  napi_create_buffer_copy(p->io.env, 6, a + 8, &copy, &mac);
  call(p, cb, recv, ntohl(sender), mac);
}

// An echo reply: its source and sequence (the identifier is ours on a ping socket;
// on a raw one, which sees every reply to this host, it must be ours too).
static void icmp_packet(probe_t* p, napi_value cb, napi_value recv, ssize_t n, const struct sockaddr_in* from,
                        uint16_t ident) {
  const unsigned char* m = p->buf;
  if (p->kind == ICMP_RAW) {
    if (n < 20) return;
    size_t ihl = (size_t)(m[0] & 0x0f) * 4;
    if ((size_t)n < ihl + 8) return;
    m += ihl;
    n -= (ssize_t)ihl;
  }
  if (n < 8 || m[0] != ICMP_ECHOREPLY) return;
  uint16_t id, seq;
  memcpy(&id, m + 4, 2);
  memcpy(&seq, m + 6, 2);
  if (p->kind == ICMP_RAW && ntohs(id) != ident) return;
  napi_value s;
  napi_create_uint32(p->io.env, ntohs(seq), &s);
  call(p, cb, recv, ntohl(from->sin_addr.s_addr), s);
}

static void on_readable(polled_t* io, napi_value cb, napi_value recv) {
  probe_t* p = (probe_t*)io;
  uint16_t ident = (uint16_t)getpid();
  for (int i = 0; i < RECV_BUDGET && !io->closing; i++) {
    union {
      struct sockaddr_ll ll;
      struct sockaddr_in in;
    } from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(io->fd, p->buf, sizeof p->buf, 0, (struct sockaddr*)&from, &len);
    if (n < 0) break;
    if (p->kind == ARP)
      arp_packet(p, cb, recv, n, &from.ll);
    else
      icmp_packet(p, cb, recv, n, &from.in, ident);
  }
}

// Polls `fd` and wraps it for JS; takes ownership of fd.
static napi_value wrap(napi_env env, int fd, enum kind kind, napi_value on_packet, probe_t** out_p) {
  probe_t* p = calloc(1, sizeof *p);
  napi_value ext;
  if (!p || !polled_start(env, &p->io, fd, on_packet, "rackjoin:probe", on_readable, &ext)) {
    close(fd);
    free(p);
    return fail(env, "uv_poll_init", ENOMEM);
  }
  p->kind = kind;
  *out_p = p;
  return ext;
}

// arpOpen(interface, onSender: (address, mac: Buffer) => void): socket.
static napi_value arp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IF_NAMESIZE + 1];
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "arpOpen(interface, onSender)");
    return NULL;
  }
  int ifindex = (int)if_nametoindex(name);
  if (ifindex == 0) return fail(env, "arpOpen", ENODEV);
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ARP));
  if (fd < 0) return fail(env, "arpOpen: socket", errno);
  struct sockaddr_ll ll;
  memset(&ll, 0, sizeof ll);
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ARP);
  ll.sll_ifindex = ifindex;
  socklen_t sl = sizeof ll;
  if (bind(fd, (struct sockaddr*)&ll, sizeof ll) < 0 || getsockname(fd, (struct sockaddr*)&ll, &sl) < 0) {
    int err = errno;
    close(fd);
    return fail(env, "arpOpen: bind", err);
  }
  if (ll.sll_halen != 6) {
    close(fd);
    return fail(env, "arpOpen: not an Ethernet interface", EPROTONOSUPPORT);
  }
  probe_t* p;
  napi_value ext = wrap(env, fd, ARP, argv[1], &p);
  if (!ext) return NULL;
  p->ifindex = ifindex;
  memcpy(p->mac, ll.sll_addr, 6);
  return ext;
}

// icmpOpen(onReply: (address, sequence) => void): [socket, 'raw' | 'dgram'].
static napi_value icmp_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_type_error(env, NULL, "icmpOpen(onReply)");
    return NULL;
  }
  enum kind kind = ICMP_RAW;
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0 && (errno == EPERM || errno == EACCES)) {
    kind = ICMP_DGRAM;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP);
  }
  if (fd < 0) return fail(env, "icmpOpen: socket", errno);
  probe_t* p;
  napi_value ext = wrap(env, fd, kind, argv[0], &p);
  if (!ext) return NULL;
  napi_value out, k;
  napi_create_array_with_length(env, 2, &out);
  napi_create_string_utf8(env, kind == ICMP_RAW ? "raw" : "dgram", NAPI_AUTO_LENGTH, &k);
  napi_set_element(env, out, 0, ext);
  napi_set_element(env, out, 1, k);
  return out;
}

static probe_t* unwrap(napi_env env, napi_value v, enum kind want) {
  void* p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL || ((probe_t*)p)->io.closing ||
      (want == ARP) != (((probe_t*)p)->kind == ARP)) {
    napi_throw_error(env, NULL, "probe socket is closed or of the wrong kind");
    return NULL;
  }
  return p;
}

// arpProbe(socket, address): 0 or an errno. Broadcast "who has address? tell 0.0.0.0".
static napi_value arp_probe(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t target;
  probe_t* p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 2) p = unwrap(env, argv[0], ARP);
  if (!p) return NULL;
  if (napi_get_value_uint32(env, argv[1], &target) != napi_ok) {
    napi_throw_type_error(env, NULL, "arpProbe(socket, address)");
    return NULL;
  }
  unsigned char a[ARP_LEN] = {0, 1, 8, 0, 6, 4, 0, 1};  // Ethernet, IPv4, request
  memcpy(a + 8, p->mac, 6);                              // sender MAC: ours; sender IP: 0.0.0.0
  uint32_t t = htonl(target);
  memcpy(a + 24, &t, 4);  // target MAC zero, target IP
  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = p->ifindex;
  to.sll_halen = 6;
  memset(to.sll_addr, 0xff, 6);
  int err = sendto(p->io.fd, a, sizeof a, 0, (struct sockaddr*)&to, sizeof to) < 0 ? errno : 0;
  napi_value out;
  napi_create_uint32(env, (uint32_t)err, &out);
  return out;
}

static uint16_t checksum(const unsigned char* b, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(b[i] << 8 | b[i + 1]);
  if (n & 1) sum += (uint32_t)(b[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

// icmpEcho(socket, address, sequence): 0 or an errno. An echo request with our
// identifier (the ping socket puts its own there) and `sequence`.
static napi_value icmp_echo(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint32_t target, seq;
  probe_t* p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 3) p = unwrap(env, argv[0], ICMP_RAW);
  if (!p) return NULL;
  if (napi_get_value_uint32(env, argv[1], &target) != napi_ok || napi_get_value_uint32(env, argv[2], &seq) != napi_ok) {
    napi_throw_type_error(env, NULL, "icmpEcho(socket, address, sequence)");
    return NULL;
  }
  unsigned char m[16] = {ICMP_ECHO, 0, 0, 0};
  uint16_t id = htons((uint16_t)getpid()), sq = htons((uint16_t)seq);
  memcpy(m + 4, &id, 2);
  memcpy(m + 6, &sq, 2);
  memcpy(m + 8, "rackjoin", 8);
  uint16_t sum = htons(checksum(m, sizeof m));
  memcpy(m + 2, &sum, 2);
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(target);
  int err = sendto(p->io.fd, m, sizeof m, 0, (struct sockaddr*)&to, sizeof to) < 0 ? errno : 0;
  napi_value out;
  napi_create_uint32(env, (uint32_t)err, &out);
  return out;
}

static napi_value probe_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void* p = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1 &&
      napi_get_value_external(env, argv[0], &p) == napi_ok && p)
    polled_close(p);
  return NULL;
}

void register_probe(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"arpOpen", NULL, arp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"arpProbe", NULL, arp_probe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmpOpen", NULL, icmp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"icmpEcho", NULL, icmp_echo, NULL, NULL, NULL, napi_enumerable, NULL},
      {"probeClose", NULL, probe_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
