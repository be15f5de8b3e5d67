// V8's continuation-preserved embedder data: one value per context that V8
// saves in every promise reaction when it is created (an `await`, a `then`)
// and restores while that reaction runs. weft/coro keeps the running greenlet
// there, so `getCurrent()` stays right across `await` without async hooks.
// Node 24's AsyncLocalStorage is built on the same slot; Node 20 leaves it
// unused (weft/coro checks which one it runs on before touching it).
//
// V8 has no stable API for the slot, so its accessors are found in the running
// node by name (weft.h, FindSymbol): V8 11 (Node 20) keeps the slot on the
// Context, V8 12 and later (Node 22, 24) on the Isolate. Only the member
// functions' addresses are taken from V8, never a V8 callback signature:
// v8::FunctionCallbackInfo's layout differs between versions, so the functions
// JavaScript calls are plain N-API ones. When neither accessor is found,
// getContinuationData and setContinuationData are not exported and weft/coro
// falls back to AsyncLocalStorage (src/coro/hub.ts).
#include "weft.h"

namespace weft {
namespace {

// The member functions, called as plain functions whose first argument is
// `this` (the Itanium C++ ABI of x86-64 and arm64). A Context's `this` is the
// handle's slot, which is what v8::Local<Context>::operator-> returns.
using GetOn = V8Local (*)(void* self);
using SetOn = void (*)(void* self, V8Local value);
using CurrentContext = V8Local (*)(void* isolate);

struct Slot {
  void* isolate = nullptr;
  CurrentContext current_context = nullptr;  // set when the slot is the Context's (V8 11)
  GetOn get = nullptr;
  SetOn set = nullptr;

  // What the accessors are called on: the Isolate, or its current Context.
  void* Self() const { return current_context != nullptr ? current_context(isolate).slot : isolate; }
};

// Found once per process: every environment (worker thread) shares one node.
struct Symbols {
  GetCurrentIsolate current_isolate = FindGetCurrentIsolate();
  CurrentContext current_context = nullptr;
  GetOn get = FindSymbol<GetOn>("_ZN2v87Isolate36GetContinuationPreservedEmbedderDataEv");
  SetOn set = FindSymbol<SetOn>("_ZN2v87Isolate36SetContinuationPreservedEmbedderDataENS_5LocalINS_5ValueEEE");

  Symbols() {
    if (get != nullptr && set != nullptr) return;
    current_context = FindSymbol<CurrentContext>("_ZN2v87Isolate17GetCurrentContextEv");
    get = FindSymbol<GetOn>("_ZNK2v87Context36GetContinuationPreservedEmbedderDataEv");
    set = FindSymbol<SetOn>("_ZN2v87Context36SetContinuationPreservedEmbedderDataENS_5LocalINS_5ValueEEE");
    if (current_context == nullptr) get = nullptr;
  }
  bool Found() const { return current_isolate != nullptr && get != nullptr && set != nullptr; }
};

const Slot* SlotOf(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  void* data;
  napi_get_cb_info(env, info, argc, argv, nullptr, &data);
  return static_cast<const Slot*>(data);
}

napi_value Get(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  const Slot* slot = SlotOf(env, info, &argc, nullptr);
  return ToNapi(slot->get(slot->Self()));
}

// setContinuationData(value) -> the value it replaces: entering a greenlet's
// context and leaving it again then costs two calls, not three.
napi_value Set(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value value;
  const Slot* slot = SlotOf(env, info, &argc, &value);
  void* self = slot->Self();
  V8Local outer = slot->get(self);
  slot->set(self, FromNapi(value));
  return ToNapi(outer);
}

void Add(napi_env env, napi_value exports, const char* name, napi_callback cb, Slot* slot) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, slot, &fn) != napi_ok) return;
  napi_set_named_property(env, exports, name, fn);
}

}  // namespace

void InitContinuation(Napi::Env env, Napi::Object exports) {
  static const Symbols symbols;
  if (!symbols.Found()) return;
  // One per environment: each worker thread has its own isolate.
  Slot* slot = new Slot{symbols.current_isolate(), symbols.current_context, symbols.get, symbols.set};
  napi_add_env_cleanup_hook(env, [](void* p) { delete static_cast<Slot*>(p); }, slot);
  Add(env, exports, "getContinuationData", Get, slot);
  Add(env, exports, "setContinuationData", Set, slot);
}

}  // namespace weft
