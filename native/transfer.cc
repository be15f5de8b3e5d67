// transfer(): what a process keeps for each Queue it holds, shared by all of
// its threads (src/multiprocessing/transfer.ts says how it is used).
//
// - Parked buffers. A buffer moved through a queue that no other process
//   holds is not copied at all: its ArrayBuffer's backing store (V8's
//   std::shared_ptr<BackingStore>, the same object postMessage's transfer list
//   moves between threads) is kept here under a number, the sender's
//   ArrayBuffer is detached, and the thread that takes the message makes a new
//   ArrayBuffer over the same store in its own isolate. Nothing here needs the
//   sender's thread once the buffer is parked: a sender terminated meanwhile
//   loses nothing (Node gives each worker's isolate a shared_ptr to its
//   ArrayBuffer allocator, so a store outlives the isolate that made it).
// - Export. When the queue is first passed to another process, every buffer
//   still parked for it is written into a memfd and sent on the queue's
//   socket, as a buffer moved across processes is (header as transfer.ts
//   lays it out), so that process can take those messages too.
// - The queue's socket for memfds: one fd per process, not one per thread, and
//   one socket, not a pair: an AF_UNIX datagram socket bound to an address the
//   kernel draws (autobind, abstract namespace: nothing on disk) and connected
//   to itself, so what is sent on it is received from it. Connected, it takes
//   datagrams from itself alone (unix(7)): nobody else can send to the address.
// - Lifetime. Each Queue object of each thread holds a small SharedArrayBuffer
//   from queueHold(); when the last one in this process is released (collected,
//   or its thread ended), the queue's parked buffers and socket go with it.
#include "weft.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <unordered_map>

namespace weft {
namespace {

// V8's own calls, looked up by their mangled names (weft.h says why), the
// same from V8 11.3 (Node 20) on:
//   std::shared_ptr<BackingStore> ArrayBuffer::GetBackingStore();
//   Local<ArrayBuffer> ArrayBuffer::New(Isolate*, std::shared_ptr<BackingStore>);
// A member function returning a class with a destructor takes the hidden
// result pointer first and `this` second, as a free function with the same
// return type and `this` as its one parameter does (Itanium C++ ABI; on
// arm64 the result pointer has its own register x8, also the same).
struct BackingStore;
using GetBackingStore = std::shared_ptr<BackingStore> (*)(void* self);
using NewArrayBuffer = V8Local (*)(void* isolate, std::shared_ptr<BackingStore> store);

struct Symbols {
  GetBackingStore get_store = FindSymbol<GetBackingStore>("_ZN2v811ArrayBuffer15GetBackingStoreEv");
  NewArrayBuffer new_ab = FindSymbol<NewArrayBuffer>("_ZN2v811ArrayBuffer3NewEPNS_7IsolateESt10shared_ptrINS_12BackingStoreEE");
  GetCurrentIsolate current_isolate = FindGetCurrentIsolate();

  bool Ok() const { return get_store && new_ab && current_isolate; }
};

const Symbols& Found() {
  static const Symbols symbols;
  return symbols;
}

struct Parked {
  uint64_t queue;
  std::shared_ptr<BackingStore> store;
  const char* data;  // stable while the store is held: a non-resizable ArrayBuffer's memory never moves
  size_t len;
};

struct QueueState {
  int refs = 0;
  int sock = -1;
};

// Never destroyed: deleters (WrapReleaseHook) may run on V8's threads while
// the process exits, after static destructors.
struct State {
  std::mutex mu;
  std::unordered_map<uint64_t, Parked> parked;
  std::unordered_map<uint64_t, QueueState> queues;
  uint64_t next = 0;
};
State& S() {
  static State* s = new State();
  return *s;
}

uint64_t Key(const Napi::CallbackInfo& info, size_t at) {
  uint32_t hi = info[at].As<Napi::Number>().Uint32Value();
  uint32_t lo = info[at + 1].As<Napi::Number>().Uint32Value();
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Napi::Value Fail(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

// A datagram socket connected to itself (see the top of this file), close-on-exec and non-blocking; or -errno.
int SelfSocket() {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  socklen_t len = sizeof(sa_family_t);  // autobind: the kernel picks an unused abstract address
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0 ||
      (len = sizeof(addr), getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len)) < 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), len) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

// With S().mu held: the queue's parked buffers are dropped and its socket closed.
void Forget(State& s, uint64_t queue) {
  for (auto it = s.parked.begin(); it != s.parked.end();) {
    if (it->second.queue == queue) it = s.parked.erase(it);
    else ++it;
  }
  auto q = s.queues.find(queue);
  if (q == s.queues.end()) return;
  if (q->second.sock >= 0) close(q->second.sock);
  s.queues.erase(q);
}

void Release(void* arg) {
  uint64_t queue = reinterpret_cast<uintptr_t>(arg);
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  auto q = s.queues.find(queue);
  if (q != s.queues.end() && --q->second.refs <= 0) Forget(s, queue);
}

// transferCanPark() -> whether this Node's V8 has the calls parking needs.
Napi::Value TransferCanPark(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Found().Ok());
}

// queueHold(keyHi, keyLo) -> a SharedArrayBuffer to keep with the Queue
// object; its release counts that object out (see the top of this file).
Napi::Value QueueHold(const Napi::CallbackInfo& info) {
  static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "a 64-bit platform");
  uint64_t queue = Key(info, 0);
  {
    State& s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    s.queues[queue].refs++;
  }
  return WrapReleaseHook(info.Env(), Release, reinterpret_cast<void*>(static_cast<uintptr_t>(queue)));
}

// queueSocket(keyHi, keyLo) -> fd, the queue's socket in this process, made
// on first call; or -errno.
Napi::Value QueueSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t queue = Key(info, 0);
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  QueueState& q = s.queues[queue];
  if (q.sock < 0) {
    int fd = SelfSocket();
    if (fd < 0) return Fail(env, -fd);
    q.sock = fd;
  }
  return Napi::Number::New(env, q.sock);
}

// queueSocketAdopt(keyHi, keyLo, fd) -> fd: the socket this process received
// for the queue becomes its socket; if it has one already, the received fd is
// closed and that one is returned.
Napi::Value QueueSocketAdopt(const Napi::CallbackInfo& info) {
  uint64_t queue = Key(info, 0);
  int got = info[2].As<Napi::Number>().Int32Value();
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  QueueState& q = s.queues[queue];
  if (q.sock >= 0) close(got);
  else q.sock = got;  // non-blocking already: the flag belongs to the open file, shared with the sender's
  return Napi::Number::New(info.Env(), q.sock);
}

// parkBuffer(arrayBuffer, keyHi, keyLo) -> its number (> 0), or -errno
// (-ENOSYS: this V8 lacks the calls). The caller detaches the ArrayBuffer.
Napi::Value ParkBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Symbols& sym = Found();
  if (!sym.Ok()) return Fail(env, ENOSYS);
  napi_value ab = info[0];
  bool is_ab = false;
  void* data = nullptr;
  size_t len = 0;
  if (napi_is_arraybuffer(env, ab, &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, ab, &data, &len) != napi_ok) {
    return Fail(env, EINVAL);
  }
  std::shared_ptr<BackingStore> store = sym.get_store(FromNapi(ab).slot);
  if (!store) return Fail(env, EINVAL);
  uint64_t queue = Key(info, 1);
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  // 31 bits: the memfd header and the record hold it as an int32; numbers come round after 2^31 buffers.
  s.next = s.next % 0x7fffffff + 1;
  uint64_t id = s.next;
  s.parked.emplace(id, Parked{queue, std::move(store), static_cast<const char*>(data), len});
  return Napi::Number::New(env, static_cast<double>(id));
}

// unparkBuffer(id) -> an ArrayBuffer over the parked store (no copy), or null
// when it is not parked here (exported to a memfd, or its queue is gone).
Napi::Value UnparkBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  std::shared_ptr<BackingStore> store;
  {
    State& s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.parked.find(id);
    if (it == s.parked.end()) return env.Null();
    store = std::move(it->second.store);
    s.parked.erase(it);
  }
  const Symbols& sym = Found();
  return Napi::Value(env, ToNapi(sym.new_ab(sym.current_isolate(), std::move(store))));
}

// Writes a parked buffer into a fresh memfd, header first (transfer.ts's
// HEADER, 64 bytes: the id's two words, the length's two, the holder word
// marked in flight), and sends the memfd on `sock`. 0 or -errno.
int SendAsMemfd(int sock, int32_t id0, int32_t id1, const Parked& p) {
  constexpr size_t kHeader = 64;
  int fd = memfd_create("weft", MFD_CLOEXEC);
  if (fd < 0) return -errno;
  int32_t header[kHeader / 4] = {id0, id1, static_cast<int32_t>(p.len & 0xffffffffu),
                                 static_cast<int32_t>(p.len >> 32), -1};
  int err = 0;
  if (ftruncate(fd, static_cast<off_t>(kHeader + p.len)) < 0 || pwrite(fd, header, kHeader, 0) != kHeader) err = errno;
  for (size_t done = 0; !err && done < p.len;) {
    ssize_t n = pwrite(fd, p.data + done, p.len - done, static_cast<off_t>(kHeader + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n < 0 ? errno : EIO;
    else done += static_cast<size_t>(n);
  }
  if (!err) {
    char byte = 'w';
    struct iovec iov = {&byte, 1};
    char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    ssize_t r;
    do r = sendmsg(sock, &msg, MSG_NOSIGNAL); while (r < 0 && errno == EINTR);
    if (r < 0) err = errno;
  }
  close(fd);
  return -err;
}

// exportParked(keyHi, keyLo, pid) -> how many of the queue's parked buffers
// went into memfds on its socket (each with the id [-pid, number] its record
// names); those the socket had no room for stay parked. -errno if the queue
// has no socket here.
Napi::Value ExportParked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t queue = Key(info, 0);
  int32_t pid = info[2].As<Napi::Number>().Int32Value();
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  auto q = s.queues.find(queue);
  if (q == s.queues.end() || q->second.sock < 0) return Fail(env, EBADF);
  int sent = 0;
  for (auto it = s.parked.begin(); it != s.parked.end();) {
    if (it->second.queue != queue ||
        SendAsMemfd(q->second.sock, -pid, static_cast<int32_t>(it->first), it->second) != 0) {
      ++it;
      continue;
    }
    it = s.parked.erase(it);
    sent++;
  }
  return Napi::Number::New(env, sent);
}

// parkedCount() -> buffers parked in this process, every queue (tests).
Napi::Value ParkedCount(const Napi::CallbackInfo& info) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  return Napi::Number::New(info.Env(), static_cast<double>(s.parked.size()));
}

}  // namespace

void InitTransfer(Napi::Env env, Napi::Object exports) {
  Export<TransferCanPark>(env, exports, "transferCanPark");
  Export<QueueHold>(env, exports, "queueHold");
  Export<QueueSocket>(env, exports, "queueSocket");
  Export<QueueSocketAdopt>(env, exports, "queueSocketAdopt");
  Export<ParkBuffer>(env, exports, "parkBuffer");
  Export<UnparkBuffer>(env, exports, "unparkBuffer");
  Export<ExportParked>(env, exports, "exportParked");
  Export<ParkedCount>(env, exports, "parkedCount");
}

}  // namespace weft
