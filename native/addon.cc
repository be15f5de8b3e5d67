#include "weft.h"

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

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  weft::InitShm(env, exports);
  weft::InitFutex(env, exports);
  weft::InitProc(env, exports);
  weft::InitSocket(env, exports);
  weft::InitSelect(env, exports);
  weft::InitContinuation(env, exports);
  return exports;
}

NODE_API_MODULE(weft, Init)
