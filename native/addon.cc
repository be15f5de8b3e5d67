#include "weft.h"

#include <dlfcn.h>
#include <mutex>
#include <string.h>
#include <v8.h>

namespace weft {

void* SabAddress(Napi::Env env, Napi::Value sab, Napi::Value offset, size_t width) {
  // N-API (Node 20) has no SharedArrayBuffer accessor: read V8's handle directly.
  napi_value raw = sab;
  v8::Local<v8::Value> value;
  memcpy(static_cast<void*>(&value), &raw, sizeof(raw));
  if (value.IsEmpty() || !value->IsSharedArrayBuffer()) {
    Napi::TypeError::New(env, "expected a SharedArrayBuffer").ThrowAsJavaScriptException();
    return nullptr;
  }
  std::shared_ptr<v8::BackingStore> store = value.As<v8::SharedArrayBuffer>()->GetBackingStore();
  int64_t off = offset.As<Napi::Number>().Int64Value();
  if (off < 0 || static_cast<size_t>(off) + width > store->ByteLength() || off % width != 0) {
    Napi::RangeError::New(env, "offset out of range or misaligned").ThrowAsJavaScriptException();
    return nullptr;
  }
  return static_cast<char*>(store->Data()) + off;
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
  return exports;
}

NODE_API_MODULE(weft, Init)
