// BSD sockets for weft/io, the C half of CPython's Modules/socketmodule.c.
//
// Every call returns a result or -errno; nothing throws except a wrong argument
// type. Timeouts follow CPython's model (socketmodule.c, sock_call_ex): a socket
// in "timeout mode" has O_NONBLOCK set, and each call that meets EAGAIN waits in
// poll(2) for the time that remains, returning -ETIME when it runs out (TypeScript
// turns that into TimeoutError('timed out')). `timeout` arguments are seconds:
// < 0 blocking, 0 non-blocking, > 0 timeout mode. EINTR is retried with the time
// that remains (PEP 475); an interrupted blocking connect() is finished by
// waiting for writability and reading SO_ERROR, as CPython does.
//
// Addresses cross as (family, numeric host or path, port[, flowinfo, scope_id]);
// name resolution is a separate call (sockResolve) so TypeScript can raise gaierror.
#include "weft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <string>

namespace weft {
namespace {

// Wait until `fd` is ready for `events` or `deadline` (monotonic seconds) passes.
// Returns 0 when ready, -ETIME on timeout, -errno otherwise.
int WaitReady(int fd, short events, double deadline) {
  for (;;) {
    double left = deadline - Now();
    if (left <= 0) return -ETIME;
    struct pollfd p = {fd, events, 0};
    int ms = static_cast<int>(ceil(left * 1000));
    int n = poll(&p, 1, ms);
    if (n > 0) return 0;
    if (n == 0) continue;  // loop re-checks the deadline
    if (errno != EINTR) return -errno;
  }
}

// Run `op` (a syscall returning -1 and errno on failure) with the socket's timeout.
template <typename Op>
long Call(int fd, short events, double timeout, Op op) {
  double deadline = timeout > 0 ? Now() + timeout : 0;
  for (;;) {
    long n = op();
    if (n >= 0) return n;
    int err = errno;
    if (err == EINTR) continue;
    if (timeout > 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
      int r = WaitReady(fd, events, deadline);
      if (r < 0) return r;
      continue;
    }
    return -err;
  }
}

int Int(const Napi::Value& v) { return v.As<Napi::Number>().Int32Value(); }
double Dbl(const Napi::Value& v) {
  double d = v.As<Napi::Number>().DoubleValue();
  return std::isnan(d) ? -1 : d;
}

// Fill `ss` from (family, host-or-path, port, flowinfo, scope_id) starting at info[i].
// Returns 0, or -errno (EINVAL for an unparsable numeric host, EAFNOSUPPORT).
int ParseAddr(const Napi::CallbackInfo& info, size_t i, struct sockaddr_storage* ss, socklen_t* len) {
  int family = Int(info[i]);
  memset(ss, 0, sizeof(*ss));
  if (family == AF_UNIX) {
    auto* un = reinterpret_cast<struct sockaddr_un*>(ss);
    un->sun_family = AF_UNIX;
    size_t n = 0;
    if (info[i + 1].IsBuffer()) {
      auto b = info[i + 1].As<Napi::Buffer<char>>();
      n = b.Length();
      if (n >= sizeof(un->sun_path)) return -ENAMETOOLONG;
      memcpy(un->sun_path, b.Data(), n);
    } else {
      std::string path = info[i + 1].As<Napi::String>().Utf8Value();
      n = path.size();
      if (n >= sizeof(un->sun_path)) return -ENAMETOOLONG;
      memcpy(un->sun_path, path.data(), n);
    }
    // An abstract address (leading NUL) has no terminator; a path includes it.
    *len = offsetof(struct sockaddr_un, sun_path) + n + (n > 0 && un->sun_path[0] != 0 ? 1 : 0);
    return 0;
  }
  std::string host = info[i + 1].As<Napi::String>().Utf8Value();
  int port = Int(info[i + 2]);
  if (family == AF_INET) {
    auto* in = reinterpret_cast<struct sockaddr_in*>(ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) return -EINVAL;
    *len = sizeof(*in);
    return 0;
  }
  if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<struct sockaddr_in6*>(ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (info.Length() > i + 3 && info[i + 3].IsNumber()) in6->sin6_flowinfo = htonl(Int(info[i + 3]));
    if (info.Length() > i + 4 && info[i + 4].IsNumber()) in6->sin6_scope_id = Int(info[i + 4]);
    if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) return -EINVAL;
    *len = sizeof(*in6);
    return 0;
  }
  return -EAFNOSUPPORT;
}

// Python's address value: [host, port] (IPv4), [host, port, flowinfo, scope_id]
// (IPv6), a path string (AF_UNIX; '' when unnamed, a Buffer when abstract).
Napi::Value MakeAddr(Napi::Env env, const struct sockaddr_storage* ss, socklen_t len) {
  char text[INET6_ADDRSTRLEN];
  if (ss->ss_family == AF_INET) {
    auto* in = reinterpret_cast<const struct sockaddr_in*>(ss);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set(0u, Napi::String::New(env, text));
    a.Set(1u, Napi::Number::New(env, ntohs(in->sin_port)));
    return a;
  }
  if (ss->ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    Napi::Array a = Napi::Array::New(env, 4);
    a.Set(0u, Napi::String::New(env, text));
    a.Set(1u, Napi::Number::New(env, ntohs(in6->sin6_port)));
    a.Set(2u, Napi::Number::New(env, ntohl(in6->sin6_flowinfo)));
    a.Set(3u, Napi::Number::New(env, in6->sin6_scope_id));
    return a;
  }
  if (ss->ss_family == AF_UNIX) {
    auto* un = reinterpret_cast<const struct sockaddr_un*>(ss);
    size_t off = offsetof(struct sockaddr_un, sun_path);
    size_t n = len > off ? len - off : 0;
    if (n > 0 && un->sun_path[0] == 0) return Napi::Buffer<char>::Copy(env, un->sun_path, n);
    return Napi::String::New(env, un->sun_path, strnlen(un->sun_path, n));
  }
  return env.Null();
}

Napi::Value Num(Napi::Env env, long n) { return Napi::Number::New(env, static_cast<double>(n)); }

// sockSocket(family, type, proto) -> fd (close-on-exec)
Napi::Value SockSocket(const Napi::CallbackInfo& info) {
  int fd = socket(Int(info[0]), Int(info[1]) | SOCK_CLOEXEC, Int(info[2]));
  return Num(info.Env(), fd < 0 ? -errno : fd);
}

// sockPair(family, type, proto) -> [fd, fd]
Napi::Value SockPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(Int(info[0]), Int(info[1]) | SOCK_CLOEXEC, Int(info[2]), sv) < 0) return Num(env, -errno);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, sv[0]);
  out.Set(1u, sv[1]);
  return out;
}

// sockInfo(fd) -> [family, type, proto] (for fromFd)
Napi::Value SockInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Int(info[0]);
  int v[3];
  int opts[3] = {SO_DOMAIN, SO_TYPE, SO_PROTOCOL};
  for (int k = 0; k < 3; k++) {
    socklen_t l = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, opts[k], &v[k], &l) < 0) return Num(env, -errno);
  }
  Napi::Array out = Napi::Array::New(env, 3);
  for (uint32_t k = 0; k < 3; k++) out.Set(k, v[k]);
  return out;
}

// sockDup(fd) -> new close-on-exec fd
Napi::Value SockDup(const Napi::CallbackInfo& info) {
  int fd = fcntl(Int(info[0]), F_DUPFD_CLOEXEC, 0);
  return Num(info.Env(), fd < 0 ? -errno : fd);
}

// sockClose(fd) -> 0. EINTR from close(2) is not retried: on Linux the fd is gone.
Napi::Value SockClose(const Napi::CallbackInfo& info) {
  int r = close(Int(info[0]));
  return Num(info.Env(), r < 0 && errno != EINTR ? -errno : 0);
}

// sockSetNonblock(fd, on) -> 0
Napi::Value SockSetNonblock(const Napi::CallbackInfo& info) {
  int fd = Int(info[0]);
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return Num(info.Env(), -errno);
  flags = info[1].ToBoolean() ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return Num(info.Env(), fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0);
}

// sockBind(fd, family, host, port, flowinfo, scope) -> 0
Napi::Value SockBind(const Napi::CallbackInfo& info) {
  struct sockaddr_storage ss;
  socklen_t len;
  int r = ParseAddr(info, 1, &ss, &len);
  if (r == 0 && bind(Int(info[0]), reinterpret_cast<struct sockaddr*>(&ss), len) < 0) r = -errno;
  return Num(info.Env(), r);
}

// sockListen(fd, backlog) -> 0
Napi::Value SockListen(const Napi::CallbackInfo& info) {
  return Num(info.Env(), listen(Int(info[0]), Int(info[1])) < 0 ? -errno : 0);
}

// sockConnect(fd, timeout, family, host, port, flowinfo, scope) -> 0
Napi::Value SockConnect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Int(info[0]);
  double timeout = Dbl(info[1]);
  struct sockaddr_storage ss;
  socklen_t len;
  int r = ParseAddr(info, 2, &ss, &len);
  if (r < 0) return Num(env, r);
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&ss), len) == 0) return Num(env, 0);
  int err = errno;
  bool wait = (err == EINTR) || (err == EINPROGRESS && timeout > 0);
  if (!wait) return Num(env, -err);
  // The connection goes on in the background: wait for it, then read its outcome.
  if (timeout > 0) {
    r = WaitReady(fd, POLLOUT, Now() + timeout);
  } else {
    struct pollfd p = {fd, POLLOUT, 0};
    do r = poll(&p, 1, -1); while (r < 0 && errno == EINTR);
    r = r < 0 ? -errno : 0;
  }
  if (r < 0) return Num(env, r);
  int soerr = 0;
  socklen_t sl = sizeof(soerr);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) return Num(env, -errno);
  return Num(env, -soerr);
}

// sockAccept(fd, timeout) -> [fd, address] | -errno. The new fd is blocking, as Python's.
Napi::Value SockAccept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Int(info[0]);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  long n = Call(fd, POLLIN, Dbl(info[1]), [&] {
    len = sizeof(ss);
    return accept4(fd, reinterpret_cast<struct sockaddr*>(&ss), &len, SOCK_CLOEXEC);
  });
  if (n < 0) return Num(env, n);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Num(env, n));
  out.Set(1u, MakeAddr(env, &ss, len));
  return out;
}

// Hot paths below use the C API directly: no argument vector, no wrappers.
bool Bytes(napi_env env, napi_value v, char** data, size_t* len) {
  napi_typedarray_type type;
  void* base;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, len, &base, &ab, &off) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected a Buffer or Uint8Array");
    return false;
  }
  static char empty;
  *data = base ? static_cast<char*>(base) : &empty;  // a zero-length view may have no storage
  return true;
}

// The arguments shared by recv, send and sendall: (fd, buffer, offset, length,
// flags, timeout). False when the buffer is not one (a JS error is pending) or
// the range does not fit it (*bad holds -EINVAL to return).
struct IoArgs {
  int fd;
  char* data;
  size_t len;
  int flags;
  double timeout;
};

bool ParseIo(napi_env env, napi_callback_info cbinfo, IoArgs* io, napi_value* bad) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  char* data;
  size_t size;
  *bad = nullptr;
  if (!Bytes(env, argv[1], &data, &size)) return false;
  size_t off = I32(env, argv[2]), len = I32(env, argv[3]);
  if (off > size || len > size - off) {
    *bad = Num(env, -EINVAL);
    return false;
  }
  *io = {I32(env, argv[0]), data + off, len, I32(env, argv[4]), F64(env, argv[5], -1)};
  return true;
}

// sockRecv(fd, buffer, offset, length, flags, timeout) -> bytes read (0 at EOF)
napi_value SockRecv(napi_env env, napi_callback_info cbinfo) {
  IoArgs io;
  napi_value bad;
  if (!ParseIo(env, cbinfo, &io, &bad)) return bad;
  long n = Call(io.fd, POLLIN, io.timeout, [&] { return recv(io.fd, io.data, io.len, io.flags); });
  return Num(env, n);
}

// sockSend(fd, buffer, offset, length, flags, timeout) -> bytes sent
napi_value SockSend(napi_env env, napi_callback_info cbinfo) {
  IoArgs io;
  napi_value bad;
  if (!ParseIo(env, cbinfo, &io, &bad)) return bad;
  long n = Call(io.fd, POLLOUT, io.timeout, [&] { return send(io.fd, io.data, io.len, io.flags | MSG_NOSIGNAL); });
  return Num(env, n);
}

// sockSendAll(fd, buffer, offset, length, flags, timeout) -> bytes sent (all) or
// -errno. The timeout bounds the whole call, as CPython's sendall since 3.5.
napi_value SockSendAll(napi_env env, napi_callback_info cbinfo) {
  IoArgs io;
  napi_value bad;
  if (!ParseIo(env, cbinfo, &io, &bad)) return bad;
  double timeout = io.timeout;
  double deadline = timeout > 0 ? Now() + timeout : 0;
  size_t done = 0;
  while (done < io.len) {
    double left = timeout > 0 ? deadline - Now() : timeout;
    if (timeout > 0 && left <= 0) return Num(env, -ETIME);
    long n = Call(io.fd, POLLOUT, left, [&] { return send(io.fd, io.data + done, io.len - done, io.flags | MSG_NOSIGNAL); });
    if (n < 0) return Num(env, n);
    done += n;
  }
  return Num(env, static_cast<double>(done));
}

// sockRecvFrom(fd, buffer, offset, length, flags, timeout) -> [n, address]
Napi::Value SockRecvFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char* data;
  size_t size;
  if (!Bytes(env, info[1], &data, &size)) return env.Undefined();
  int fd = Int(info[0]);
  size_t off = Int(info[2]), len = Int(info[3]);
  if (off > size || len > size - off) return Num(env, -EINVAL);
  int flags = Int(info[4]);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  long n = Call(fd, POLLIN, Dbl(info[5]), [&] {
    sl = sizeof(ss);
    return recvfrom(fd, data + off, len, flags, reinterpret_cast<struct sockaddr*>(&ss), &sl);
  });
  if (n < 0) return Num(env, n);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Num(env, n));
  out.Set(1u, sl == 0 ? env.Null() : MakeAddr(env, &ss, sl));
  return out;
}

// sockSendTo(fd, buffer, offset, length, flags, timeout, family, host, port, flowinfo, scope) -> n
Napi::Value SockSendTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char* data;
  size_t size;
  if (!Bytes(env, info[1], &data, &size)) return env.Undefined();
  int fd = Int(info[0]);
  size_t off = Int(info[2]), len = Int(info[3]);
  if (off > size || len > size - off) return Num(env, -EINVAL);
  int flags = Int(info[4]) | MSG_NOSIGNAL;
  struct sockaddr_storage ss;
  socklen_t sl;
  int r = ParseAddr(info, 6, &ss, &sl);
  if (r < 0) return Num(env, r);
  long n = Call(fd, POLLOUT, Dbl(info[5]), [&] {
    return sendto(fd, data + off, len, flags, reinterpret_cast<struct sockaddr*>(&ss), sl);
  });
  return Num(env, n);
}

// sockShutdown(fd, how) -> 0
Napi::Value SockShutdown(const Napi::CallbackInfo& info) {
  return Num(info.Env(), shutdown(Int(info[0]), Int(info[1])) < 0 ? -errno : 0);
}

// sockName(fd, peer) -> address (getsockname / getpeername)
Napi::Value SockName(const Napi::CallbackInfo& info) {
  int fd = Int(info[0]);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  auto* sa = reinterpret_cast<struct sockaddr*>(&ss);
  int r = info[1].ToBoolean() ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len);
  if (r < 0) return Num(info.Env(), -errno);
  return MakeAddr(info.Env(), &ss, len);
}

// sockSetOpt(fd, level, name, int | Buffer) -> 0
Napi::Value SockSetOpt(const Napi::CallbackInfo& info) {
  int fd = Int(info[0]), level = Int(info[1]), name = Int(info[2]);
  int r;
  if (info[3].IsNumber() || info[3].IsBoolean()) {
    int v = info[3].IsBoolean() ? info[3].ToBoolean().Value() : Int(info[3]);
    r = setsockopt(fd, level, name, &v, sizeof(v));
  } else {
    char* data;
    size_t len;
    if (!Bytes(info.Env(), info[3], &data, &len)) return info.Env().Undefined();
    r = setsockopt(fd, level, name, data, len);
  }
  return Num(info.Env(), r < 0 ? -errno : 0);
}

// sockGetOpt(fd, level, name, buflen) -> int (buflen 0) | Buffer
Napi::Value SockGetOpt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Int(info[0]), level = Int(info[1]), name = Int(info[2]), buflen = Int(info[3]);
  if (buflen <= 0) {
    int v = 0;
    socklen_t l = sizeof(v);
    if (getsockopt(fd, level, name, &v, &l) < 0) return Num(env, -errno);
    return Num(env, v);
  }
  if (buflen > 1024) return Num(env, -EINVAL);
  char buf[1024];
  socklen_t l = buflen;
  if (getsockopt(fd, level, name, buf, &l) < 0) return Num(env, -errno);
  return Napi::Buffer<char>::Copy(env, buf, l);
}

// sockResolve(host, family, port) -> [[family, address], ...] | EAI code (< 0, getaddrinfo(3))
Napi::Value SockResolve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string host = info[0].As<Napi::String>().Utf8Value();
  struct addrinfo hints, *res = nullptr;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = Int(info[1]);
  hints.ai_socktype = SOCK_STREAM;
  int r;
  do r = getaddrinfo(host.c_str(), nullptr, &hints, &res); while (r == EAI_SYSTEM && errno == EINTR);
  if (r != 0) return Num(env, r);
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  char text[INET6_ADDRSTRLEN];
  for (struct addrinfo* ai = res; ai; ai = ai->ai_next) {
    const void* addr = ai->ai_family == AF_INET
                           ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                           : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    inet_ntop(ai->ai_family, addr, text, sizeof(text));
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, ai->ai_family);
    pair.Set(1u, Napi::String::New(env, text));
    out.Set(k++, pair);
  }
  freeaddrinfo(res);
  return out;
}

// sockGaiStrerror(code) -> gai_strerror text
Napi::Value SockGaiStrerror(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gai_strerror(Int(info[0])));
}

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  Export<SockSocket>(env, exports, "sockSocket");
  Export<SockPair>(env, exports, "sockPair");
  Export<SockInfo>(env, exports, "sockInfo");
  Export<SockDup>(env, exports, "sockDup");
  Export<SockClose>(env, exports, "sockClose");
  Export<SockSetNonblock>(env, exports, "sockSetNonblock");
  Export<SockBind>(env, exports, "sockBind");
  Export<SockListen>(env, exports, "sockListen");
  Export<SockConnect>(env, exports, "sockConnect");
  Export<SockAccept>(env, exports, "sockAccept");
  ExportRaw(env, exports, "sockRecv", SockRecv);
  ExportRaw(env, exports, "sockSend", SockSend);
  ExportRaw(env, exports, "sockSendAll", SockSendAll);
  Export<SockRecvFrom>(env, exports, "sockRecvFrom");
  Export<SockSendTo>(env, exports, "sockSendTo");
  Export<SockShutdown>(env, exports, "sockShutdown");
  Export<SockName>(env, exports, "sockName");
  Export<SockSetOpt>(env, exports, "sockSetOpt");
  Export<SockGetOpt>(env, exports, "sockGetOpt");
  Export<SockResolve>(env, exports, "sockResolve");
  Export<SockGaiStrerror>(env, exports, "sockGaiStrerror");
}

}  // namespace weft
