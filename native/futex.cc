// Futex wait and wake on a 32-bit word of shared memory, across processes and
// threads alike. FUTEX_PRIVATE_FLAG is left off on purpose: a private futex is
// keyed by (mm, address) and a child process mapping the same memfd elsewhere
// would never be woken; a shared futex is keyed by the page, so every mapping of
// the memfd meets on it. Atomics.wait/notify are private to one process, which
// is why weft does not use them (futex(2), "FUTEX_PRIVATE_FLAG").
//
// futexWaitAsync keeps Node's event loop free, in one of two ways:
// - io_uring (Linux 6.7+): the wait is an IORING_OP_FUTEX_WAIT on a ring per
//   environment whose fd the event loop polls. The kernel completes it on the
//   waiting thread itself, so a wake-up is one thread woken, as in Python's
//   blocking read(). On a machine whose cores are all busy that is what keeps a
//   round trip short: each extra hop waits its turn behind the busy processes.
//   A wait's time-out is not a linked IORING_OP_LINK_TIMEOUT: one timer per
//   environment cancels the waits whose time is up (IORING_OP_ASYNC_CANCEL).
//   Nearly every wait is woken long before its time (weft sleeps in slices of
//   0.1 s to re-check for dead peers), and a linked timeout costs each of them
//   a second entry, a kernel timer armed and cancelled and a second completion:
//   ~0.5 us a wait, a twentieth of a round trip between two threads on one core.
// - otherwise (an older kernel, a container that forbids io_uring, or
//   WEFT_FUTEX_WAIT=thread): the wait runs on a parked helper thread (one per
//   wait in flight, reused, never more than the waits pending) and its result
//   comes back through one uv_async_t per environment: three threads woken in
//   turn (the helper to start waiting, the helper when woken, the loop).
#include "weft.h"
#include "uring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace weft {
namespace {

long Futex(int* addr, int op, int val, const struct timespec* ts) {
  return syscall(SYS_futex, addr, op, val, ts, nullptr, 0);
}

// Wait while *addr == expected, for at most `timeout` seconds (< 0: forever).
// Returns 0 when woken (or spuriously), -EAGAIN when the word differed, -ETIMEDOUT.
// EINTR is retried with the time that remains.
int WaitOn(int* addr, int expected, double timeout) {
  double deadline = timeout < 0 ? 0 : Now() + timeout;
  for (;;) {
    struct timespec ts, *tsp = nullptr;
    if (timeout >= 0) {
      double left = deadline - Now();
      if (left <= 0) return -ETIMEDOUT;
      ts.tv_sec = static_cast<time_t>(left);
      ts.tv_nsec = static_cast<long>((left - ts.tv_sec) * 1e9);
      tsp = &ts;
    }
    if (Futex(addr, FUTEX_WAIT, expected, tsp) == 0) return 0;
    if (errno == EINTR) continue;
    return -errno;
  }
}

struct EnvState;

struct WaitRequest {
  int* addr;
  int expected;
  double timeout;
  double deadline = INFINITY;  // Now() + timeout, for the ring's timer
  bool on_ring = false;
  bool cancelling = false;  // the ring's timer asked the kernel to end it
  int result = 0;
  std::shared_ptr<EnvState> owner;
  napi_ref view = nullptr;  // keeps the mapping alive while a helper waits on it
  napi_ref callback = nullptr;
};

// Per-environment (main thread or worker) completion queue.
struct EnvState {
  napi_env env;
  uv_async_t async;
  std::mutex mu;
  std::deque<WaitRequest*> done;
  int pending = 0;             // touched on the JS thread only
  std::atomic<bool> closing{false};
  std::unordered_set<WaitRequest*> inflight;  // JS thread only: for waking on teardown
  std::shared_ptr<EnvState> self;  // keeps the handles valid until uv_close calls back
  napi_async_cleanup_hook_handle teardown = nullptr;
  int open_handles = 1;  // `async`, and `poll` and `timer` once the ring is open
  // The io_uring path, opened at the first async wait.
  std::unique_ptr<Uring> ring;
  uv_poll_t poll;
  // Ends the ring's waits whose time is up; due at `timer_due` (Now()), INFINITY when stopped.
  uv_timer_t timer;
  double timer_due = INFINITY;
  // Every callback runs in this async context, with `receiver` as `this`: a
  // null context made Node run it the legacy way, through the domain module
  // once anything loaded it, which in the REPL reads `this.domain` -- and the
  // REPL's global has a `domain` (the module), so `global` as receiver threw
  // "domain.enter is not a function" and took Node down.
  napi_async_context async_context = nullptr;
  napi_ref receiver = nullptr;
};

// The helper threads, shared by every environment of the process.
struct Helpers {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<WaitRequest*> queue;
  int idle = 0;
};
Helpers* helpers = new Helpers();  // leaked on purpose: detached threads use it until exit

void HelperLoop() {
  for (;;) {
    WaitRequest* req;
    {
      std::unique_lock<std::mutex> lock(helpers->mu);
      helpers->idle++;
      helpers->cv.wait(lock, [] { return !helpers->queue.empty(); });
      helpers->idle--;
      req = helpers->queue.front();
      helpers->queue.pop_front();
    }
    std::shared_ptr<EnvState> owner = req->owner;
    req->result = owner->closing ? -ECANCELED : WaitOn(req->addr, req->expected, req->timeout);
    std::lock_guard<std::mutex> lock(owner->mu);
    owner->done.push_back(req);
    if (!owner->closing) uv_async_send(&owner->async);
  }
}

void Submit(WaitRequest* req) {
  bool spawn;
  {
    std::lock_guard<std::mutex> lock(helpers->mu);
    helpers->queue.push_back(req);
    spawn = helpers->idle < static_cast<int>(helpers->queue.size());
  }
  if (spawn) std::thread(HelperLoop).detach();
  helpers->cv.notify_one();
}

// Hands one finished wait to its callback and frees it. JS thread only.
void Complete(EnvState* state, WaitRequest* req) {
  napi_env env = state->env;
  state->pending--;
  state->inflight.erase(req);
  napi_value cb, receiver, arg;
  napi_get_reference_value(env, req->callback, &cb);
  napi_get_reference_value(env, state->receiver, &receiver);
  napi_create_int32(env, req->result, &arg);
  napi_delete_reference(env, req->callback);
  napi_delete_reference(env, req->view);
  delete req;
  // A callback made with an undefined receiver was seen never to run: pass an object.
  napi_value ignored;
  if (napi_make_callback(env, state->async_context, receiver, cb, 1, &arg, &ignored) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

// Nothing left to wait for: the loop may exit.
void Settle(EnvState* state) {
  if (state->pending != 0) return;
  uv_unref(reinterpret_cast<uv_handle_t*>(&state->async));
  if (state->ring) uv_unref(reinterpret_cast<uv_handle_t*>(&state->poll));
}

void Deliver(uv_async_t* handle) {
  EnvState* state = static_cast<EnvState*>(handle->data);
  std::deque<WaitRequest*> batch;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    batch.swap(state->done);
  }
  napi_handle_scope scope;
  napi_open_handle_scope(state->env, &scope);
  for (WaitRequest* req : batch) Complete(state, req);
  Settle(state);
  napi_close_handle_scope(state->env, scope);
}

// Whether this kernel has io_uring with futex waits and lets this process use
// it, decided once per process by waiting on a word that already differs: a
// kernel that knows the operation answers -EAGAIN, one that does not -EINVAL.
bool RingUsable() {
  static const bool usable = [] {
    const char* choice = getenv("WEFT_FUTEX_WAIT");
    if (choice != nullptr && strcmp(choice, "thread") == 0) return false;
    Uring ring;
    if (ring.Open(2) != 0) return false;
    int word = 1;
    struct io_uring_sqe* sqe = ring.Prepare();
    sqe->opcode = kOpFutexWait;
    sqe->fd = kFutex2SizeU32;
    sqe->addr = reinterpret_cast<uint64_t>(&word);
    sqe->off = 0;
    sqe->addr3 = 0xffffffffu;
    if (ring.Submit() != 1 || ring.WaitFor(1) != 0) return false;
    int result = 0;
    ring.Reap([&](uint64_t, int32_t res) { result = res; });
    return result == -EAGAIN;
  }();
  return usable;
}

void RingReady(uv_poll_t* handle, int status, int events) {
  EnvState* state = static_cast<EnvState*>(handle->data);
  napi_handle_scope scope;
  napi_open_handle_scope(state->env, &scope);
  state->ring->Reap([state](uint64_t data, int32_t res) {
    if (data == 0) return;  // a cancel's own completion
    WaitRequest* req = reinterpret_cast<WaitRequest*>(data);
    // Only the timer cancels a wait: that is a time-out.
    req->result = res == -ECANCELED ? -ETIMEDOUT : res;
    Complete(state, req);
  });
  Settle(state);
  napi_close_handle_scope(state->env, scope);
}

void ArmTimer(EnvState* state, double due);

// The timer: cancels every wait on the ring whose deadline has passed, and
// sets itself for the next one. A cancel the ring cannot take now is tried
// again a millisecond later.
void OnTimer(uv_timer_t* handle) {
  EnvState* state = static_cast<EnvState*>(handle->data);
  state->timer_due = INFINITY;
  Uring* ring = state->ring.get();
  double now = Now();
  double next = INFINITY;
  std::vector<WaitRequest*> ending;
  for (WaitRequest* req : state->inflight) {
    if (!req->on_ring || req->cancelling) continue;
    if (req->deadline <= now) {
      ending.push_back(req);
    } else if (req->deadline < next) {
      next = req->deadline;
    }
  }
  size_t done = 0;
  while (done < ending.size()) {
    size_t batch = 0;
    while (done + batch < ending.size() && ring->Space() > 0) {
      WaitRequest* req = ending[done + batch];
      struct io_uring_sqe* sqe = ring->Prepare();
      sqe->opcode = IORING_OP_ASYNC_CANCEL;
      sqe->addr = reinterpret_cast<uint64_t>(req);
      sqe->user_data = 0;
      req->cancelling = true;
      batch++;
    }
    int taken = ring->Submit();
    size_t took = taken > 0 ? static_cast<size_t>(taken) : 0;
    for (size_t i = took; i < batch; i++) ending[done + i]->cancelling = false;
    done += took;
    if (took < batch) {
      next = std::min(next, now + 0.001);
      break;
    }
  }
  if (next < INFINITY) ArmTimer(state, next);
}

// Makes the timer fire by `due` (Now()), unless it already will. libuv counts
// whole milliseconds from the loop's cached time: it may fire a little early,
// and OnTimer then sets it again for what is left. The timer is left set when
// its waits end early, as nearly all do: it then fires once for nothing (at
// most once a slice), where stopping it at each wait's end and setting it at
// the next would be two heap operations on every wait.
void ArmTimer(EnvState* state, double due) {
  if (due >= state->timer_due) return;
  state->timer_due = due;
  double ms = std::ceil((due - Now()) * 1000);
  uv_timer_start(&state->timer, OnTimer, ms > 0 ? static_cast<uint64_t>(ms) : 0, 0);
}

// The environment's ring, opened at its first async wait; nullptr when this
// process cannot use io_uring.
Uring* RingOf(EnvState* state) {
  if (state->ring) return state->ring.get();
  if (!RingUsable()) return nullptr;
  auto ring = std::make_unique<Uring>();
  uv_loop_t* loop;
  if (ring->Open(64) != 0 || napi_get_uv_event_loop(state->env, &loop) != napi_ok ||
      uv_poll_init(loop, &state->poll, ring->fd()) != 0) {
    return nullptr;
  }
  state->poll.data = state;
  uv_poll_start(&state->poll, UV_READABLE, RingReady);
  // The timer never keeps the loop alive by itself: the poll handle does, while waits are pending.
  uv_timer_init(loop, &state->timer);
  state->timer.data = state;
  uv_unref(reinterpret_cast<uv_handle_t*>(&state->timer));
  state->ring = std::move(ring);
  state->open_handles += 2;
  return state->ring.get();
}

// Submits req as a futex wait on the ring, and sets the timer for its
// deadline when it has one; false when the ring refused it (the caller falls
// back to a helper).
bool SubmitToRing(EnvState* state, Uring* ring, WaitRequest* req) {
  struct io_uring_sqe* sqe = ring->Prepare();
  sqe->opcode = kOpFutexWait;
  sqe->fd = kFutex2SizeU32;
  sqe->addr = reinterpret_cast<uint64_t>(req->addr);
  sqe->off = static_cast<uint32_t>(req->expected);
  sqe->addr3 = 0xffffffffu;
  sqe->user_data = reinterpret_cast<uint64_t>(req);
  if (ring->Submit() < 1) return false;
  if (req->timeout >= 0) {
    req->deadline = Now() + req->timeout;
    ArmTimer(state, req->deadline);
  }
  return true;
}

std::shared_ptr<EnvState>* StateOf(Napi::Env env) {
  return env.GetInstanceData<std::shared_ptr<EnvState>>();
}

// futexWait(i32, index, expected, timeoutSeconds) -> 0 | -EAGAIN | -ETIMEDOUT
Napi::Value FutexWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int* addr = WordAddress(env, info[0], info[1]);
  if (!addr) return env.Undefined();
  int expected = info[2].As<Napi::Number>().Int32Value();
  double timeout = info[3].As<Napi::Number>().DoubleValue();
  if (std::isnan(timeout) || std::isinf(timeout)) timeout = -1;
  return Napi::Number::New(env, WaitOn(addr, expected, timeout));
}

// futexWake(i32, index, count) -> number of waiters woken
Napi::Value FutexWake(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int* addr = WordAddress(env, info[0], info[1]);
  if (!addr) return env.Undefined();
  int count = info[2].As<Napi::Number>().Int32Value();
  long woken = Futex(addr, FUTEX_WAKE, count <= 0 ? INT_MAX : count, nullptr);
  return Napi::Number::New(env, woken < 0 ? -errno : woken);
}

// futexWaitAsync(i32, index, expected, timeoutSeconds, callback(result))
Napi::Value FutexWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int* addr = WordAddress(env, info[0], info[1]);
  if (!addr) return env.Undefined();
  std::shared_ptr<EnvState> state = *StateOf(env);
  WaitRequest* req = new WaitRequest();
  req->addr = addr;
  req->expected = info[2].As<Napi::Number>().Int32Value();
  req->timeout = info[3].As<Napi::Number>().DoubleValue();
  if (std::isnan(req->timeout) || std::isinf(req->timeout)) req->timeout = -1;
  req->owner = state;
  napi_create_reference(env, info[0], 1, &req->view);
  napi_create_reference(env, info[4], 1, &req->callback);
  state->pending++;
  state->inflight.insert(req);
  Uring* ring = RingOf(state.get());
  if (ring != nullptr) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&state->poll));
    req->on_ring = SubmitToRing(state.get(), ring, req);
    if (req->on_ring) return env.Undefined();
  }
  uv_ref(reinterpret_cast<uv_handle_t*>(&state->async));
  Submit(req);
  return env.Undefined();
}

// One of an environment's handles closed; the last one ends its teardown.
void HandleClosed(uv_handle_t* h) {
  EnvState* st = static_cast<EnvState*>(h->data);
  if (--st->open_handles > 0) return;
  napi_async_cleanup_hook_handle done = st->teardown;
  st->self.reset();  // may free st
  napi_remove_async_cleanup_hook(done);
}

// A worker thread going away: stop delivering, and wake its helpers so none
// stays parked on memory that may be unmapped (waiters re-check, so a spurious
// wake-up of another process's waiter on the same word is harmless).
//
// An async cleanup hook, not a plain one: closing the uv_async handle takes a
// turn of the worker's loop, and Node waits for the hook to be removed (the
// close callback does it last) before it tears that loop down. The code stays
// mapped regardless: addon.cc pins the library.
void Teardown(napi_async_cleanup_hook_handle hook, void* arg) {
  auto* holder = static_cast<std::shared_ptr<EnvState>*>(arg);
  std::shared_ptr<EnvState> state = *holder;
  state->closing = true;
  // The ring's waits are not delivered any more: their requests go now, and
  // closing the ring (once the event loop no longer polls its fd) cancels
  // them in the kernel.
  for (auto it = state->inflight.begin(); it != state->inflight.end();) {
    if ((*it)->on_ring) {
      delete *it;
      it = state->inflight.erase(it);
    } else {
      it++;  // a helper still uses it; it comes back through `done`, undelivered
    }
  }
  {
    std::lock_guard<std::mutex> lock(state->mu);
    for (WaitRequest* req : state->inflight) Futex(req->addr, FUTEX_WAKE, INT_MAX, nullptr);
  }
  napi_async_destroy(state->env, state->async_context);
  napi_delete_reference(state->env, state->receiver);
  state->self = state;
  state->teardown = hook;
  // libuv must stop polling the ring's fd before it is closed.
  if (state->ring) {
    uv_close(reinterpret_cast<uv_handle_t*>(&state->timer), HandleClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&state->poll), [](uv_handle_t* h) {
      static_cast<EnvState*>(h->data)->ring->Close();
      HandleClosed(h);
    });
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&state->async), HandleClosed);
}

// futexWaitMechanism() -> 'io_uring' | 'thread': how futexWaitAsync sleeps in this process.
Napi::Value FutexWaitMechanism(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), RingUsable() ? "io_uring" : "thread");
}

}  // namespace

void InitFutex(Napi::Env env, Napi::Object exports) {
  auto* holder = new std::shared_ptr<EnvState>(std::make_shared<EnvState>());
  EnvState* state = holder->get();
  state->env = env;
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  uv_async_init(loop, &state->async, Deliver);
  state->async.data = state;
  uv_unref(reinterpret_cast<uv_handle_t*>(&state->async));
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "weft.futexWaitAsync", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &state->async_context);
  napi_create_reference(env, resource, 1, &state->receiver);
  napi_set_instance_data(
      env, holder, [](napi_env, void* data, void*) { delete static_cast<std::shared_ptr<EnvState>*>(data); }, nullptr);
  napi_add_async_cleanup_hook(env, Teardown, holder, nullptr);

  Export<FutexWait>(env, exports, "futexWait");
  Export<FutexWake>(env, exports, "futexWake");
  Export<FutexWaitAsync>(env, exports, "futexWaitAsync");
  Export<FutexWaitMechanism>(env, exports, "futexWaitMechanism");
}

}  // namespace weft
