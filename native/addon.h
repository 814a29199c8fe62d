// rackjoin's native addon: what Node's networking cannot do. Each file registers its exports.
#ifndef RACKJOIN_ADDON_H
#define RACKJOIN_ADDON_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

// polled.c: a descriptor read on this thread's loop, handing what it reads to a JS callback.
typedef struct polled polled_t;
// Called when the descriptor is readable, with the callback and a `this` for it, inside a handle scope and one
// callback scope (ticks and promise jobs run once it returns).
typedef void (*polled_readable)(polled_t* p, napi_value cb, napi_value recv);
struct polled {  // the first member of each file's socket struct
  napi_env env;
  int fd;
  int closing;
  int refs;  // the poll handle and the JS external: freed when both let go
  uv_poll_t poll;
  napi_ref callback;
  napi_async_context async;
  polled_readable readable;
  void (*closed)(polled_t* p);  // optional: what the owner lets go of when the descriptor closes (on the JS thread)
};
// Polls fd and makes the JS external for p; 0 when the loop refuses (fd and p are then the caller's to free).
int polled_start(napi_env env, polled_t* p, int fd, napi_value callback, const char* name, polled_readable readable,
                 napi_value* external);
void polled_close(polled_t* p);
// Calls cb; 0 when it threw (reported as an uncaught exception): stop reading for now.
int polled_call(polled_t* p, napi_value cb, napi_value recv, size_t argc, const napi_value* argv);

void register_udp(napi_env env, napi_value exports);      // udp.c: TFTP transfer sockets, path MTU
void register_ifaddrs(napi_env env, napi_value exports);  // ifaddrs.c: an interface's addresses, with or without carrier
void register_probe(napi_env env, napi_value exports);    // probe.c: ARP and ICMP echo probes for address conflicts
void register_neigh(napi_env env, napi_value exports);    // neigh.c: neighbour entries for unicast DHCP replies

#endif
