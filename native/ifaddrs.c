// An interface's IPv4 addresses whatever its link state. Node's os.networkInterfaces()
// (libuv) leaves out every interface that is not both up and running, so a
// provisioning NIC whose switch port is down at start-up looks like it has no
// address, and DHCP would refuse to start until someone restarted it.
#include "addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

// interfaceAddresses(name): null if there is no such interface, else
// { up, running, addresses } with each IPv4 address as a host-order uint32.
// running is the kernel's IFF_RUNNING: up with a carrier.
static napi_value interface_addresses(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[IF_NAMESIZE + 1];
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "interfaceAddresses(name)");
    return NULL;
  }
  napi_value out, addresses, flag;
  if (if_nametoindex(name) == 0) {
    napi_get_null(env, &out);
    return out;
  }
  struct ifaddrs* list;
  if (getifaddrs(&list) < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  unsigned flags = 0;
  uint32_t n = 0;
  napi_create_object(env, &out);
  napi_create_array(env, &addresses);
  for (struct ifaddrs* a = list; a; a = a->ifa_next) {
    if (strcmp(a->ifa_name, name) != 0) continue;
    flags |= a->ifa_flags;
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    napi_value ip;
    napi_create_uint32(env, ntohl(((struct sockaddr_in*)a->ifa_addr)->sin_addr.s_addr), &ip);
    napi_set_element(env, addresses, n++, ip);
  }
  freeifaddrs(list);
  napi_set_named_property(env, out, "addresses", addresses);
  napi_get_boolean(env, (flags & IFF_UP) != 0, &flag);
  napi_set_named_property(env, out, "up", flag);
  napi_get_boolean(env, (flags & IFF_RUNNING) != 0, &flag);
  napi_set_named_property(env, out, "running", flag);
  return out;
}

void register_ifaddrs(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"interfaceAddresses", NULL, interface_addresses, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
