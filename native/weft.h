// weft's native core: one translation unit per mechanism (shm, futex, proc,
// socket, select, continuation, load, uring_io), each exporting its functions through an
// Init* hook that addon.cc calls. Internals return -errno; TypeScript raises
// Python's errors.
#pragma once
#include <dlfcn.h>
#include <napi.h>
#include <string.h>
#include <time.h>

namespace weft {
void InitShm(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitProc(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitSelect(Napi::Env env, Napi::Object exports);
void InitContinuation(Napi::Env env, Napi::Object exports);
void InitLoad(Napi::Env env, Napi::Object exports);
void InitUringIo(Napi::Env env, Napi::Object exports);
void InitTransfer(Napi::Env env, Napi::Object exports);

// A small SharedArrayBuffer whose release (the last isolate that held it let
// go: collected, or its thread ended) calls on_release(arg) (shm.cc). A number
// (-errno) if no memory could be had, and then on_release has run already.
Napi::Value WrapReleaseHook(Napi::Env env, void (*on_release)(void*), void* arg);

// Adds the raw N-API callback `cb` to `exports` as `name`, errors ignored: a
// worker thread stopped while it loads the addon makes every N-API call fail,
// and node-addon-api would turn the failed throw that follows into a fatal
// error that aborts the whole process.
inline void ExportRaw(Napi::Env env, Napi::Object exports, const char* name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn) != napi_ok) return;
  napi_set_named_property(env, exports, name, fn);
}

// Adds the node-addon-api function F to `exports` as `name`, through ExportRaw.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  ExportRaw(env, exports, name, [](napi_env e, napi_callback_info i) -> napi_value {
    Napi::CallbackInfo info(e, i);
    return F(info);
  });
}

// Readers of arguments TypeScript has already checked, and the number every
// raw function returns (a count, or -errno). A value of the wrong type, or NaN,
// reads as `fallback`: socket and select calls pass -1 there for "no time-out".
inline int32_t I32(napi_env env, napi_value v) {
  int32_t n = 0;
  napi_get_value_int32(env, v, &n);
  return n;
}

inline double F64(napi_env env, napi_value v, double fallback = 0) {
  double d = fallback;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d) return fallback;
  return d;
}

inline napi_value Num(napi_env env, double n) {
  napi_value out;
  napi_create_double(env, n, &out);
  return out;
}

// Seconds on the monotonic clock: what every deadline here is measured on.
inline double Now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Address of element `index` of the Int32Array `view`, or nullptr (and a JS
// TypeError or RangeError pending) when `view` is not an Int32Array or the
// index is outside it.
int32_t* WordAddress(napi_env env, napi_value view, napi_value index);

// The addon is built once and loaded by every supported Node (20, 22, 24…), so
// it links against N-API only. The few V8 entry points it still uses (the
// continuation slot, a SharedArrayBuffer over foreign memory on Node 20) are
// looked up in the running node by their mangled names and used only when
// found: V8 renames or moves them between versions, and a symbol missing at
// load time would kill the process with "undefined symbol" before any
// JavaScript could catch it.
template <typename F>
F FindSymbol(const char* mangled) {
  return reinterpret_cast<F>(dlsym(RTLD_DEFAULT, mangled));
}

// v8::Local<T> as the C++ ABI passes it: one pointer, trivially copyable (so
// in a register, as V8's own Local). A napi_value is that same pointer (Node's
// js_native_api_v8.h converts between them with memcpy).
struct V8Local {
  void* slot;
};
inline napi_value ToNapi(V8Local local) {
  napi_value out;
  memcpy(&out, &local, sizeof(out));
  return out;
}
inline V8Local FromNapi(napi_value value) {
  V8Local out;
  memcpy(&out, &value, sizeof(out));
  return out;
}
static_assert(sizeof(V8Local) == sizeof(napi_value), "napi_value is not a v8::Local");

// v8::Isolate::GetCurrent(), the same in every V8 since 3.x.
using GetCurrentIsolate = void* (*)();
inline GetCurrentIsolate FindGetCurrentIsolate() { return FindSymbol<GetCurrentIsolate>("_ZN2v87Isolate10GetCurrentEv"); }
}  // namespace weft
