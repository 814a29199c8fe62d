// Neighbour entries for DHCP replies to clients that have no address yet.
//
// Why native: RFC 2131 §4.1 says a reply to a client that did not ask for
// broadcast goes to yiaddr at the client's hardware address. The kernel can send
// that unicast only once it has a neighbour (ARP) entry for yiaddr, and the client
// cannot answer ARP for an address it does not hold yet. Node cannot add one;
// here it is the SIOCSARP ioctl (as dnsmasq does), which needs CAP_NET_ADMIN.
// Without it (or on a link that is not Ethernet) the caller broadcasts instead,
// which every client accepts but which wakes every machine on the link: in a boot
// storm each of 1,000 clients would receive all 2,000 replies.
//
// The entry is an ordinary reachable one (not permanent): the kernel ages it out
// like any it learnt itself.
#include "addon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

// One socket per process carries the ioctls (it sends nothing); opened on first use.
static int ioctl_fd = -1;

// neighbourSet(interface, address, mac): 0 or an errno.
static napi_value neighbour_set(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char name[IF_NAMESIZE + 1];
  size_t len;
  uint32_t address;
  void* mac;
  size_t mac_len;
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0 ||
      napi_get_value_uint32(env, argv[1], &address) != napi_ok || napi_is_buffer(env, argv[2], &is_buffer) != napi_ok ||
      !is_buffer || napi_get_buffer_info(env, argv[2], &mac, &mac_len) != napi_ok || mac_len != 6) {
    napi_throw_type_error(env, NULL, "neighbourSet(interface, address, mac: 6-byte Buffer)");
    return NULL;
  }
  int err = 0;
  if (ioctl_fd < 0) ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ioctl_fd < 0) {
    err = errno;
  } else {
    struct arpreq req;
    memset(&req, 0, sizeof req);
    struct sockaddr_in* pa = (struct sockaddr_in*)&req.arp_pa;
    pa->sin_family = AF_INET;
    pa->sin_addr.s_addr = htonl(address);
    req.arp_ha.sa_family = ARPHRD_ETHER;
    memcpy(req.arp_ha.sa_data, mac, 6);
    req.arp_flags = ATF_COM;
    memcpy(req.arp_dev, name, len < sizeof req.arp_dev ? len : sizeof req.arp_dev - 1);
    if (ioctl(ioctl_fd, SIOCSARP, &req) < 0) err = errno;
  }
  napi_value out;
  napi_create_int32(env, err, &out);
  return out;
}

void register_neigh(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"neighbourSet", NULL, neighbour_set, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
