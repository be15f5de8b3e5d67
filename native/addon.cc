#include "weft.h"

#include <mutex>

namespace weft {

int32_t* WordAddress(napi_env env, napi_value view, napi_value index) {
  // N-API gives a typed array's data pointer whatever its buffer (Node 20 has
  // no SharedArrayBuffer accessor); the JavaScript side (futex.ts) only ever
  // passes views of shared memory. No napi_value for the buffer is asked for:
  // that would cost a handle per call.
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(env, view, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_int32_array) {
    napi_throw_type_error(env, nullptr, "expected an Int32Array over a SharedArrayBuffer");
    return nullptr;
  }
  uint32_t i;
  if (napi_get_value_uint32(env, index, &i) != napi_ok || i >= length) {
    napi_throw_range_error(env, nullptr, "index outside the Int32Array");
    return nullptr;
  }
  return static_cast<int32_t*>(data) + i;
}

}  // namespace weft

// Node unloads an addon when the worker thread that loaded it ends, yet V8
// frees that thread's SharedArrayBuffers afterwards, and their deleters are
// here (shm.cc): a worker that used a Queue took the process down with it.
// Loading the library once more with RTLD_NODELETE keeps it mapped until exit.
// Once per process: every worker thread runs Init again.
static void PinLibrary() {
  static std::once_flag pinned;
  std::call_once(pinned, [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&PinLibrary), &info) != 0 && info.dli_fname != nullptr) {
      dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);  // the handle is kept on purpose
    }
  });
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinLibrary();
  weft::InitShm(env, exports);
  weft::InitFutex(env, exports);
  weft::InitProc(env, exports);
  weft::InitSocket(env, exports);
  weft::InitSelect(env, exports);
  weft::InitContinuation(env, exports);
  weft::InitLoad(env, exports);
  weft::InitUringIo(env, exports);
  weft::InitTransfer(env, exports);
  return exports;
}

NODE_API_MODULE(weft, Init)
