#include "weft.h"

namespace weft {
void InitSelect(Napi::Env env, Napi::Object exports) {}
}  // namespace weft
