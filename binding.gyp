{
  "targets": [
    {
      "target_name": "rackjoin_net",
      "sources": ["native/addon.c", "native/udp.c", "native/ifaddrs.c", "native/probe.c", "native/neigh.c", "native/polled.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
