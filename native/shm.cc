// Shared memory between processes and threads: an anonymous memfd, sized with
// ftruncate and mapped MAP_SHARED, exposed to JavaScript as a SharedArrayBuffer
// whose backing store unmaps the region when V8 frees it (after every isolate
// that held it let go). The fd is what crosses to a child process (SCM_RIGHTS)
// or to a worker thread (dup'd); the kernel frees the pages when the last fd and
// the last mapping are gone, so a SIGKILLed process leaks nothing. memfd_create(2).
#include "weft.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <v8.h>

namespace weft {
namespace {

napi_value FromV8(v8::Local<v8::Value> local) {
  // N-API values are V8 locals underneath (node's js_native_api_v8.h does the same cast).
  napi_value out;
  static_assert(sizeof(out) == sizeof(local), "napi_value and v8::Local differ in size");
  memcpy(&out, &local, sizeof(out));
  return out;
}

Napi::Value Fail(Napi::Env env, int err) { return Napi::Number::New(env, -err); }

// Wrap `len` bytes at `addr` (a MAP_SHARED mapping we own) as a SharedArrayBuffer.
Napi::Value WrapMapping(Napi::Env env, void* addr, size_t len) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  std::unique_ptr<v8::BackingStore> store = v8::SharedArrayBuffer::NewBackingStore(
      addr, len, [](void* data, size_t length, void*) { munmap(data, length); }, nullptr);
  v8::Local<v8::SharedArrayBuffer> sab = v8::SharedArrayBuffer::New(isolate, std::move(store));
  return Napi::Value(env, FromV8(sab));
}

Napi::Value MapFd(Napi::Env env, int fd, size_t len) {
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) return Fail(env, errno);
  return WrapMapping(env, addr, len);
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

// shmMap(fd) -> SharedArrayBuffer over the whole memfd, or -errno.
Napi::Value ShmMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct stat st;
  if (fstat(fd, &st) < 0) return Fail(env, errno);
  if (st.st_size <= 0) return Fail(env, EINVAL);
  return MapFd(env, fd, static_cast<size_t>(st.st_size));
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

void InitShm(Napi::Env env, Napi::Object exports) {
  Export<ShmCreate>(env, exports, "shmCreate");
  Export<ShmMap>(env, exports, "shmMap");
  Export<FdDup>(env, exports, "fdDup");
  Export<FdClose>(env, exports, "fdClose");
}

}  // namespace weft
