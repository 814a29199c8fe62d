// A descriptor polled on the calling thread's libuv loop, with a JS callback for
// what it reads: the lifetime rules the UDP sockets (udp.c) and the conflict
// probes (probe.c) share. The struct is owned jointly by the poll handle and the
// JS external and freed when both have let go; it is closed by JS, by the
// external's finalizer (nobody closed it), or when the thread's environment is
// torn down (a terminated worker must not leave a poll handle on its loop).
#include "addon.h"

#include <stdlib.h>
#include <unistd.h>

static void release(polled_t* p) {
  if (--p->refs == 0) free(p);  // p is the first member of the caller's struct: this frees it all
}

static void on_poll_closed(uv_handle_t* h) { release(h->data); }

static void close_polled(polled_t* p, int from_hook);

static void cleanup_hook(void* arg) { close_polled(arg, 1); }

static void close_polled(polled_t* p, int from_hook) {
  if (p->closing) return;
  p->closing = 1;
  if (!from_hook) napi_remove_env_cleanup_hook(p->env, cleanup_hook, p);
  uv_poll_stop(&p->poll);
  close(p->fd);
  if (p->closed) p->closed(p);
  napi_delete_reference(p->env, p->callback);
  napi_async_destroy(p->env, p->async);
  uv_close((uv_handle_t*)&p->poll, on_poll_closed);
}

static void finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  close_polled(data, 0);
  release(data);
}

static void on_readable(uv_poll_t* poll, int status, int events) {
  polled_t* p = poll->data;
  (void)events;
  if (status < 0 || p->closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(p->env, &scope) != napi_ok) return;
  napi_value cb, recv;
  napi_get_reference_value(p->env, p->callback, &cb);
  napi_get_global(p->env, &recv);  // the callback scope wants an object as its resource
  // One callback scope for everything read now: queued ticks and promise jobs run
  // once, when it closes, not after each datagram (as they would after each
  // napi_make_callback; at thousands of datagrams a second that was a large part
  // of the work per datagram).
  napi_callback_scope cbs;
  if (napi_open_callback_scope(p->env, recv, p->async, &cbs) == napi_ok) {
    p->readable(p, cb, recv);
    napi_close_callback_scope(p->env, cbs);
  }
  napi_close_handle_scope(p->env, scope);
}

int polled_start(napi_env env, polled_t* p, int fd, napi_value callback, const char* name, polled_readable readable,
                 napi_value* external) {
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &p->poll, fd) != 0) return 0;
  p->env = env;
  p->fd = fd;
  p->refs = 2;
  p->readable = readable;
  p->poll.data = p;
  napi_value resource;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  napi_async_init(env, NULL, resource, &p->async);
  napi_create_reference(env, callback, 1, &p->callback);
  napi_add_env_cleanup_hook(env, cleanup_hook, p);
  uv_poll_start(&p->poll, UV_READABLE, on_readable);
  napi_create_external(env, p, finalize, NULL, external);
  return 1;
}

void polled_close(polled_t* p) { close_polled(p, 0); }

int polled_call(polled_t* p, napi_value cb, napi_value recv, size_t argc, const napi_value* argv) {
  napi_value result;
  if (napi_call_function(p->env, recv, cb, argc, argv, &result) == napi_ok) return 1;
  // A throwing handler is a bug in the caller: report it as Node reports any uncaught exception.
  bool pending = false;
  napi_is_exception_pending(p->env, &pending);
  if (pending) {
    napi_value err;
    napi_get_and_clear_last_exception(p->env, &err);
    napi_fatal_exception(p->env, err);
  }
  return 0;
}
