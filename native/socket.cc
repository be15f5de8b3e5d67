#include "weft.h"

namespace weft {
void InitSocket(Napi::Env env, Napi::Object exports) {}
}  // namespace weft
