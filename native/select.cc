// select(2), poll(2) and epoll(7) for weft/io, the C half of CPython's
// Modules/selectmodule.c, plus one libuv poll handle per watched fd so that
// `selectAsync` can wait without blocking Node's event loop.
//
// Results cross as flat integer arrays the caller owns and reuses (returning
// epoll events as one Int32Array beat building JS tuples: FACTS.md): no
// allocation per call on the hot path. EINTR is retried with the time that
// remains (PEP 475). Timeouts are seconds (< 0 or NaN: forever).
#include "weft.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <vector>

namespace weft {
namespace {

// The int32 elements of a typed array (maybe empty); false with a TypeError pending.
bool Ints(napi_env env, napi_value v, int32_t** out, size_t* count) {
  napi_typedarray_type type;
  void* data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, count, &data, &ab, &off) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, nullptr, "expected an Int32Array");
    return false;
  }
  *out = static_cast<int32_t*>(data);
  return true;
}

// Milliseconds left until `deadline` for poll/epoll_wait, rounded up so a wait
// never returns early (CPython rounds timeouts the same way, _PyTime_ROUND_CEILING).
int MillisLeft(double deadline) {
  double left = deadline - Now();
  if (left <= 0) return 0;
  double ms = ceil(left * 1000);
  return ms > 2147483647.0 ? 2147483647 : static_cast<int>(ms);
}

// selectWait(rfds, wfds, xfds, timeout) -> number ready | -errno. Each list is
// an Int32Array of fds (< FD_SETSIZE, checked by the caller); entries that are
// not ready are overwritten with -1.
napi_value SelectWait(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  size_t n[3];
  int32_t* lists[3];
  for (int k = 0; k < 3; k++) {
    if (!Ints(env, argv[k], &lists[k], &n[k])) return nullptr;
  }
  double timeout = F64(env, argv[3], -1);
  double deadline = Now() + timeout;
  fd_set sets[3];
  int result;
  for (;;) {
    int maxfd = -1;
    for (int k = 0; k < 3; k++) {
      FD_ZERO(&sets[k]);
      for (size_t i = 0; i < n[k]; i++) {
        int fd = lists[k][i];
        if (fd < 0 || fd >= FD_SETSIZE) return Num(env, -EINVAL);
        FD_SET(fd, &sets[k]);
        if (fd > maxfd) maxfd = fd;
      }
    }
    struct timeval tv, *tvp = nullptr;
    if (timeout >= 0) {
      double left = deadline - Now();
      if (left < 0) left = 0;
      tv.tv_sec = static_cast<time_t>(left);
      tv.tv_usec = static_cast<suseconds_t>(ceil((left - tv.tv_sec) * 1e6));
      if (tv.tv_usec >= 1000000) { tv.tv_sec++; tv.tv_usec -= 1000000; }
      tvp = &tv;
    }
    result = select(maxfd + 1, &sets[0], &sets[1], &sets[2], tvp);
    if (result >= 0) break;
    if (errno != EINTR) return Num(env, -errno);
  }
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < n[k]; i++)
      if (!FD_ISSET(lists[k][i], &sets[k])) lists[k][i] = -1;
  return Num(env, result);
}

// pollWait(pollfds, count, timeout) -> number ready | -errno. `pollfds` is an
// Int32Array laid out as `struct pollfd` (fd, then events|revents<<16 on
// little-endian Linux), two int32 per entry.
napi_value PollWait(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  size_t len;
  int32_t* raw;
  if (!Ints(env, argv[0], &raw, &len)) return nullptr;
  size_t count = I32(env, argv[1]);
  if (count * 2 > len) return Num(env, -EINVAL);
  static_assert(sizeof(struct pollfd) == 8, "struct pollfd is two int32");
  auto* fds = reinterpret_cast<struct pollfd*>(raw);
  double timeout = F64(env, argv[2], -1);
  double deadline = Now() + timeout;
  for (;;) {
    int n = poll(fds, count, timeout < 0 ? -1 : MillisLeft(deadline));
    if (n >= 0) return Num(env, n);
    if (errno != EINTR) return Num(env, -errno);
  }
}

// epollCreate() -> epoll fd (close-on-exec)
napi_value EpollCreate(napi_env env, napi_callback_info cbinfo) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  return Num(env, fd < 0 ? -errno : fd);
}

// epollCtl(epfd, op, fd, events) -> 0 | -errno (EEXIST, ENOENT, EBADF, EPERM...)
napi_value EpollCtl(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  int epfd = I32(env, argv[0]), op = I32(env, argv[1]), fd = I32(env, argv[2]);
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = static_cast<uint32_t>(I32(env, argv[3]));
  ev.data.fd = fd;
  return Num(env, epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0);
}

// epollWait(epfd, out, maxevents, timeout) -> n | -errno; out[2i] = fd,
// out[2i + 1] = events, for i < n.
napi_value EpollWait(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  size_t len;
  int32_t* out;
  if (!Ints(env, argv[1], &out, &len)) return nullptr;
  int epfd = I32(env, argv[0]);
  int maxevents = I32(env, argv[2]);
  if (maxevents <= 0 || static_cast<size_t>(maxevents) * 2 > len) return Num(env, -EINVAL);
  // Every ready fd up to maxevents, as CPython (which allocates per call): a
  // fixed stack array once capped a wait at 4,096 events. Kept per thread and
  // grown only, so the hot path does not allocate.
  static thread_local std::vector<struct epoll_event> evs;
  if (evs.size() < static_cast<size_t>(maxevents)) evs.resize(maxevents);
  double timeout = F64(env, argv[3], -1);
  double deadline = Now() + timeout;
  int n;
  for (;;) {
    n = epoll_wait(epfd, evs.data(), maxevents, timeout < 0 ? -1 : MillisLeft(deadline));
    if (n >= 0) break;
    if (errno != EINTR) return Num(env, -errno);
  }
  for (int i = 0; i < n; i++) {
    out[2 * i] = evs[i].data.fd;
    out[2 * i + 1] = static_cast<int32_t>(evs[i].events);
  }
  return Num(env, n);
}

// A libuv poll handle on one fd (an epoll fd, in weft's use). Armed once per
// wait, when the fd turns readable the handle stops itself and calls back
// callback.call(target); armed to repeat (weft/coro's I/O watcher, which
// stays armed while any greenlet waits on a socket), it calls back each time
// and stays armed. Stopped, it keeps no reference on the event loop.
struct Watch {
  uv_poll_t handle;
  napi_env env;
  napi_ref target = nullptr;
  napi_ref callback = nullptr;
  // The async context every callback runs in (target is its resource): a null
  // one sends Node down its legacy path, where the REPL's domain handling
  // crashes (see futex.cc).
  napi_async_context async_context = nullptr;
  bool closed = false;
  bool repeat = false;
  // Set while the environment may still need closing this handle itself.
  napi_async_cleanup_hook_handle teardown = nullptr;
};

// The handle is closed (by watchClose or at teardown): free it, and let Node
// finish tearing the environment down if it was waiting for this.
void OnClosed(uv_handle_t* h) {
  Watch* w = static_cast<Watch*>(h->data);
  napi_async_cleanup_hook_handle hook = w->teardown;
  delete w;
  if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
}

// The environment (a worker thread, or the main one at exit) goes away with
// the handle still open: close it now, before its loop is gone (see Teardown
// in futex.cc).
void TeardownWatch(napi_async_cleanup_hook_handle hook, void* arg) {
  Watch* w = static_cast<Watch*>(arg);
  w->teardown = hook;
  if (w->closed) return;  // watchClose's uv_close is under way; OnClosed removes the hook
  w->closed = true;
  napi_async_destroy(w->env, w->async_context);
  uv_poll_stop(&w->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), OnClosed);
}

void OnReadable(uv_poll_t* handle, int status, int events) {
  Watch* w = static_cast<Watch*>(handle->data);
  if (!w->repeat) uv_poll_stop(handle);
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value target, cb, arg, ignored;
  napi_get_reference_value(env, w->target, &target);
  napi_get_reference_value(env, w->callback, &cb);
  napi_create_int32(env, status, &arg);
  // A callback made with an undefined receiver was seen never to run: pass an object.
  if (napi_make_callback(env, w->async_context, target, cb, 1, &arg, &ignored) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

Watch* WatchOf(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, nullptr, "expected a watch handle");
    return nullptr;
  }
  return static_cast<Watch*>(p);
}

// watchOpen(fd, target, callback) -> handle | -errno
napi_value WatchOpen(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  Watch* w = new Watch();
  w->env = env;
  int r = uv_poll_init(loop, &w->handle, I32(env, argv[0]));
  if (r < 0) {
    delete w;
    return Num(env, r);  // libuv errors are -errno on Unix
  }
  w->handle.data = w;
  napi_create_reference(env, argv[1], 1, &w->target);
  napi_create_reference(env, argv[2], 1, &w->callback);
  napi_value name;
  napi_create_string_utf8(env, "weft.watch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, argv[1], name, &w->async_context);
  napi_add_async_cleanup_hook(env, TeardownWatch, w, &w->teardown);
  napi_value out;
  napi_create_external(env, w, nullptr, nullptr, &out);
  return out;
}

// watchStart(handle, repeat = false) -> 0 | -errno: call back when the fd is
// readable: once, or each time until watchStop.
napi_value WatchStart(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  Watch* w = WatchOf(env, argv[0]);
  if (!w) return nullptr;
  if (w->closed) return Num(env, -EBADF);
  bool repeat = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &repeat);
  w->repeat = repeat;
  return Num(env, uv_poll_start(&w->handle, UV_READABLE, OnReadable));
}

// watchStop(handle) -> 0
napi_value WatchStop(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  Watch* w = WatchOf(env, argv[0]);
  if (!w) return nullptr;
  if (!w->closed) uv_poll_stop(&w->handle);
  return Num(env, 0);
}

// watchRef(handle, ref) -> 0: whether the handle, while armed, keeps the
// event loop alive. A selector keeps its handle armed between waits (a stop
// and a start cost the kernel a walk over every fd of the selector's epoll
// set, see selectors.ts) and lets it hold the loop only while a wait is on.
napi_value WatchRef(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  Watch* w = WatchOf(env, argv[0]);
  if (!w) return nullptr;
  bool ref = true;
  if (argc > 1) napi_get_value_bool(env, argv[1], &ref);
  if (!w->closed) {
    if (ref) uv_ref(reinterpret_cast<uv_handle_t*>(&w->handle));
    else uv_unref(reinterpret_cast<uv_handle_t*>(&w->handle));
  }
  return Num(env, 0);
}

// watchClose(handle) -> 0. Must come before the fd is closed (uv_poll_init(3)).
napi_value WatchClose(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  Watch* w = WatchOf(env, argv[0]);
  if (!w) return nullptr;
  if (w->closed) return Num(env, 0);
  w->closed = true;
  uv_poll_stop(&w->handle);
  napi_delete_reference(env, w->target);
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->async_context);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->handle), OnClosed);
  return Num(env, 0);
}

}  // namespace

void InitSelect(Napi::Env env, Napi::Object exports) {
  ExportRaw(env, exports, "selectWait", SelectWait);
  ExportRaw(env, exports, "pollWait", PollWait);
  ExportRaw(env, exports, "epollCreate", EpollCreate);
  ExportRaw(env, exports, "epollCtl", EpollCtl);
  ExportRaw(env, exports, "epollWait", EpollWait);
  ExportRaw(env, exports, "watchOpen", WatchOpen);
  ExportRaw(env, exports, "watchStart", WatchStart);
  ExportRaw(env, exports, "watchStop", WatchStop);
  ExportRaw(env, exports, "watchRef", WatchRef);
  ExportRaw(env, exports, "watchClose", WatchClose);
}

}  // namespace weft
