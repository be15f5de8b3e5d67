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

#include <type_traits>
#include <utility>

namespace weft {
namespace {

// V8 11 (Node 20) keeps the slot on the Context; V8 12 moved it to the
// Isolate and later dropped the Context's. Whichever this V8 has is used,
// found at compile time (both branches are templates, so only the one taken
// is compiled).
template <typename C, typename = void>
struct ContextHasSlot : std::false_type {};
template <typename C>
struct ContextHasSlot<C, std::void_t<decltype(std::declval<C&>().GetContinuationPreservedEmbedderData())>>
    : std::true_type {};

template <typename I = v8::Isolate, typename C = v8::Context>
v8::Local<v8::Value> GetSlot(I* isolate) {
  if constexpr (ContextHasSlot<C>::value) {
    v8::Local<C> context = isolate->GetCurrentContext();
    return context->GetContinuationPreservedEmbedderData();
  } else {
    return isolate->GetContinuationPreservedEmbedderData();
  }
}

template <typename I = v8::Isolate, typename C = v8::Context>
void SetSlot(I* isolate, v8::Local<v8::Value> value) {
  if constexpr (ContextHasSlot<C>::value) {
    v8::Local<C> context = isolate->GetCurrentContext();
    context->SetContinuationPreservedEmbedderData(value);
  } else {
    isolate->SetContinuationPreservedEmbedderData(value);
  }
}

void Get(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(GetSlot(info.GetIsolate()));
}

void Set(const v8::FunctionCallbackInfo<v8::Value>& info) {
  SetSlot(info.GetIsolate(), info[0]);
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
