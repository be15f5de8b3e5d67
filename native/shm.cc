// Shared memory between processes and threads: an anonymous memfd, sized with
// ftruncate and mapped MAP_SHARED, exposed to JavaScript as a SharedArrayBuffer
// whose backing store unmaps the region when V8 frees it (after every isolate
// that held it let go). The fd is what crosses to a child process (SCM_RIGHTS)
// or to a worker thread (dup'd); the kernel frees the pages when the last fd and
// the last mapping are gone, so a SIGKILLed process leaks nothing. memfd_create(2).
#include "weft.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

namespace weft {
namespace {

Napi::Value Fail(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

// Node 22 and later: N-API makes the SharedArrayBuffer (an experimental
// function in Node's headers, so declared here and looked up, not linked).
using CreateExternalSab = napi_status (*)(napi_env env, void* data, size_t length,
                                          void (*finalize)(void* data, void* hint), void* hint,
                                          napi_value* result);

// Node 20 (V8 11.3, which will not change): V8's own calls, as
//   std::unique_ptr<BackingStore> SharedArrayBuffer::NewBackingStore(void*, size_t, deleter, void*);
//   Local<SharedArrayBuffer> SharedArrayBuffer::New(Isolate*, std::shared_ptr<BackingStore>);
//   BackingStore::~BackingStore();
// A unique_ptr is returned through a hidden pointer, as any class with a
// destructor is (OwnedStore has one for that reason); a shared_ptr of an
// incomplete type is laid out as V8's is.
struct BackingStore;
struct OwnedStore {
  BackingStore* store;
  ~OwnedStore() {}
};
using NewBackingStore = OwnedStore (*)(void* data, size_t length, void (*deleter)(void*, size_t, void*), void* info);
using NewSab = V8Local (*)(void* isolate, std::shared_ptr<BackingStore> store);
using DestroyStore = void (*)(BackingStore* store);

struct Symbols {
  CreateExternalSab create_external_sab = FindSymbol<CreateExternalSab>("node_api_create_external_sharedarraybuffer");
  GetCurrentIsolate current_isolate = FindGetCurrentIsolate();
  NewBackingStore new_backing_store = FindSymbol<NewBackingStore>("_ZN2v817SharedArrayBuffer15NewBackingStoreEPvmPFvS1_mS1_ES1_");
  NewSab new_sab = FindSymbol<NewSab>("_ZN2v817SharedArrayBuffer3NewEPNS_7IsolateESt10shared_ptrINS_12BackingStoreEE");
  DestroyStore destroy_store = FindSymbol<DestroyStore>("_ZN2v812BackingStoreD1Ev");

  bool HasV8() const { return current_isolate && new_backing_store && new_sab && destroy_store; }
};

const Symbols& Found() {
  static const Symbols symbols;
  return symbols;
}

// A mapping a SharedArrayBuffer owns. With `release_at` set, the word at that
// offset is zeroed as the mapping goes (the last isolate let go of it): how a
// moved buffer's receiver tells the sender its memfd may be written again
// (transfer.ts). The store comes before munmap, so it lands in the file.
struct Mapping {
  void* addr;
  size_t len;
  ptrdiff_t release_at;  // -1: none
  // Called once the mapping is gone (WrapReleaseHook), from whichever thread V8 frees it on.
  void (*on_release)(void*) = nullptr;
  void* arg = nullptr;
};

void Unmap(Mapping* m) {
  if (m->release_at >= 0) {
    __atomic_store_n(reinterpret_cast<int32_t*>(static_cast<char*>(m->addr) + m->release_at), 0, __ATOMIC_SEQ_CST);
  }
  munmap(m->addr, m->len);
  if (m->on_release) m->on_release(m->arg);
  delete m;
}

// Wrap a mapping as a SharedArrayBuffer whose last release unmaps it. Takes
// the mapping over even when it fails.
Napi::Value WrapMapping(Napi::Env env, Mapping* m) {
  const Symbols& sym = Found();
  napi_value out;
  if (sym.create_external_sab != nullptr) {
    auto unmap = [](void*, void* hint) { Unmap(static_cast<Mapping*>(hint)); };
    if (sym.create_external_sab(env, m->addr, m->len, unmap, m, &out) != napi_ok) {
      Unmap(m);
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (!pending) napi_throw_error(env, nullptr, "weft: node_api_create_external_sharedarraybuffer failed");
      return Napi::Value(env, nullptr);
    }
    return Napi::Value(env, out);
  }
  if (sym.HasV8()) {
    OwnedStore owned = sym.new_backing_store(
        m->addr, m->len, [](void*, size_t, void* info) { Unmap(static_cast<Mapping*>(info)); }, m);
    // V8 allocated the store with operator new; its unique_ptr would call the
    // destructor and operator delete, and so does this shared_ptr's deleter.
    DestroyStore destroy = sym.destroy_store;
    std::shared_ptr<BackingStore> shared(owned.store, [destroy](BackingStore* store) {
      destroy(store);
      ::operator delete(static_cast<void*>(store));
    });
    owned.store = nullptr;
    return Napi::Value(env, ToNapi(sym.new_sab(sym.current_isolate(), std::move(shared))));
  }
  Unmap(m);
  napi_throw_error(env, nullptr,
                   "weft: this Node can wrap shared memory in a SharedArrayBuffer neither through N-API "
                   "(node_api_create_external_sharedarraybuffer, Node 22 and later) nor through V8's "
                   "SharedArrayBuffer::NewBackingStore (Node 20); use Node 20, 22 or 24");
  return Napi::Value(env, nullptr);
}

Napi::Value MapFd(Napi::Env env, int fd, size_t len, bool populate, ptrdiff_t release_at) {
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  if (addr == MAP_FAILED) return Fail(env, errno);
  return WrapMapping(env, new Mapping{addr, len, release_at});
}

// shmCreate(size) -> fd (>= 0) or -errno. The fd is close-on-exec: it reaches a
// child only when passed on purpose (SCM_RIGHTS).
Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t size = info[0].As<Napi::Number>().Int64Value();
  if (size <= 0) return Fail(env, EINVAL);
  int fd = memfd_create("weft", MFD_CLOEXEC);
  if (fd < 0) return Fail(env, errno);
  if (ftruncate(fd, size) < 0) {
    int err = errno;
    close(fd);
    return Fail(env, err);
  }
  return Napi::Number::New(env, fd);
}

// shmMap(fd, populate = false, releaseAt = -1) -> SharedArrayBuffer over the
// whole memfd, or -errno. `populate` maps every page at once (MAP_POPULATE,
// mmap(2)): for data that is there already and will be read, one call instead
// of a page fault per 4 KiB. `releaseAt` (a 4-aligned offset in the memfd):
// the int32 there is set to 0 when the mapping is released.
Napi::Value ShmMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool populate = info.Length() > 1 && info[1].ToBoolean();
  int64_t release_at = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : -1;
  struct stat st;
  if (fstat(fd, &st) < 0) return Fail(env, errno);
  if (st.st_size <= 0) return Fail(env, EINVAL);
  if (release_at >= 0 && (release_at % 4 != 0 || release_at + 4 > st.st_size)) return Fail(env, EINVAL);
  return MapFd(env, fd, static_cast<size_t>(st.st_size), populate, release_at < 0 ? -1 : static_cast<ptrdiff_t>(release_at));
}

// fdDup(fd) -> a new close-on-exec fd above the stdio range, or -errno.
Napi::Value FdDup(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return Napi::Number::New(info.Env(), out < 0 ? -errno : out);
}

// fdClose(fd) -> 0 or -errno. Never retried on EINTR: Linux always releases the fd.
Napi::Value FdClose(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), close(fd) < 0 ? -errno : 0);
}

}  // namespace

Napi::Value WrapReleaseHook(Napi::Env env, void (*on_release)(void*), void* arg) {
  size_t len = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED) {
    on_release(arg);
    return Fail(env, errno);
  }
  Mapping* m = new Mapping{addr, len, -1};
  m->on_release = on_release;
  m->arg = arg;
  return WrapMapping(env, m);
}

void InitShm(Napi::Env env, Napi::Object exports) {
  Export<ShmCreate>(env, exports, "shmCreate");
  Export<ShmMap>(env, exports, "shmMap");
  Export<FdDup>(env, exports, "fdDup");
  Export<FdClose>(env, exports, "fdClose");
}

}  // namespace weft
