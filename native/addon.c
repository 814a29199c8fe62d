#include "addon.h"

NAPI_MODULE_INIT() {
  register_udp(env, exports);
  register_ifaddrs(env, exports);
  return exports;
}
