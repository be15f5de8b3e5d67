// V8's continuation-preserved embedder data: one value per context that V8
// saves in every promise reaction when it is created (an `await`, a `then`)
// and restores while that reaction runs. weft/coro keeps the running greenlet
// there, so `getCurrent()` stays right across `await` without async hooks.
// Node 24's AsyncLocalStorage is built on the same slot; Node 20 leaves it
// unused (weft/coro checks which one it runs on before touching it).
//
// Plain V8 callbacks, not N-API: these run on every wait of every greenlet,
// and N-API's per-call scope would double their cost.
#include "weft.h"

#include <string.h>
#include <v8.h>

namespace weft {
namespace {

void Get(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  info.GetReturnValue().Set(isolate->GetCurrentContext()->GetContinuationPreservedEmbedderData());
}

void Set(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  isolate->GetCurrentContext()->SetContinuationPreservedEmbedderData(info[0]);
}

void Add(Napi::Env env, Napi::Object exports, const char* name, v8::FunctionCallback cb) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Function> fn;
  if (!v8::Function::New(isolate->GetCurrentContext(), cb).ToLocal(&fn)) return;
  // napi_value is a V8 handle underneath (the same cast as SabAddress).
  napi_value raw;
  memcpy(&raw, &fn, sizeof(raw));
  napi_set_named_property(env, exports, name, raw);
}

}  // namespace

void InitContinuation(Napi::Env env, Napi::Object exports) {
  Add(env, exports, "getContinuationData", Get);
  Add(env, exports, "setContinuationData", Set);
}

}  // namespace weft
