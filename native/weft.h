// weft's native core: one translation unit per mechanism (shm, futex, proc,
// socket, select, continuation, load), each exporting its functions through an
// Init* hook that addon.cc calls. Internals return -errno; TypeScript raises
// Python's errors.
#pragma once
#include <napi.h>
#include <time.h>

namespace weft {
void InitShm(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitProc(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitSelect(Napi::Env env, Napi::Object exports);
void InitContinuation(Napi::Env env, Napi::Object exports);
void InitLoad(Napi::Env env, Napi::Object exports);

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

// Seconds on the monotonic clock: what every deadline here is measured on.
inline double Now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Address of byte `offset` inside a SharedArrayBuffer, or nullptr (and a JS
// RangeError pending) when the offset is out of range or misaligned for `align`.
void* SabAddress(Napi::Env env, Napi::Value sab, Napi::Value offset, size_t width);
}  // namespace weft
