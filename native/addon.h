// rackjoin's native addon: what Node's networking cannot do. Each file registers its exports.
#ifndef RACKJOIN_ADDON_H
#define RACKJOIN_ADDON_H
#define NAPI_VERSION 8
#include <node_api.h>

void register_udp(napi_env env, napi_value exports);      // udp.c: TFTP transfer sockets, path MTU
void register_ifaddrs(napi_env env, napi_value exports);  // ifaddrs.c: an interface's addresses, with or without carrier
void register_probe(napi_env env, napi_value exports);    // probe.c: ARP and ICMP echo probes for address conflicts

#endif
