#include "addon.h"

NAPI_MODULE_INIT() {
  register_udp(env, exports);
  register_ifaddrs(env, exports);
  register_probe(env, exports);
  register_neigh(env, exports);
  return exports;
}
