// weft's native core: one translation unit per mechanism (shm, futex, proc,
// socket, select), each exporting its functions through an Init* hook that
// addon.cc calls. Internals return -errno; TypeScript raises Python's errors.
#pragma once
#include <napi.h>

namespace weft {
void InitShm(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitProc(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitSelect(Napi::Env env, Napi::Object exports);

// Address of byte `offset` inside a SharedArrayBuffer, or nullptr (and a JS
// RangeError pending) when the offset is out of range or misaligned for `align`.
void* SabAddress(Napi::Env env, Napi::Value sab, Napi::Value offset, size_t width);
}  // namespace weft
