// Process facts the multiprocessing layer needs and Node does not expose:
// the calling thread's kernel id (a worker thread's unique "pid"), liveness of
// an id, the parent-death signal, socket pairs used as liveness tokens, and
// fd passing (SCM_RIGHTS) to a child that is already running.
#include "weft.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

namespace weft {
namespace {

Napi::Value GetTid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(syscall(SYS_gettid)));
}

// isAlive(id): a process or thread id still names a running task. kill(2)
// with signal 0 checks existence (EPERM still means "exists"); a zombie — dead
// but not yet reaped, as orphans stay where init does not reap — exists too,
// so its state letter in /proc/<id>/stat (proc(5)) settles it.
Napi::Value IsAlive(const Napi::CallbackInfo& info) {
  int id = info[0].As<Napi::Number>().Int32Value();
  bool alive = id > 0 && (kill(id, 0) == 0 || errno == EPERM);
  if (alive) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t n = read(fd, buf, sizeof buf - 1);
      close(fd);
      if (n > 0) {
        buf[n] = 0;
        const char* end = strrchr(buf, ')');  // the command name may hold spaces and parentheses
        if (end && (end[2] == 'Z' || end[2] == 'X')) alive = false;
      }
    }
  }
  return Napi::Boolean::New(info.Env(), alive);
}

// setParentDeathSignal(sig) -> 0 or -errno: the kernel sends `sig` to this
// process when the thread that forked it exits, SIGKILL included (prctl(2)).
Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  int sig = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), prctl(PR_SET_PDEATHSIG, sig) < 0 ? -errno : 0);
}

// socketPair() -> [fd, fd] (close-on-exec, AF_UNIX stream) or -errno.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return Napi::Number::New(env, -errno);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, sv[0]);
  out.Set(1u, sv[1]);
  return out;
}

// peerClosed(fd): every copy of the other end of a liveness socket is closed
// (its holders closed it or died). Nothing is ever written on these sockets, so
// "readable" can only mean EOF or an error.
Napi::Value PeerClosed(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
  int n;
  do n = poll(&p, 1, 0); while (n < 0 && errno == EINTR);
  bool closed = n > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
  return Napi::Boolean::New(info.Env(), closed);
}

// sendFds(sock, fds[]) -> 0 or -errno: one byte of data carrying `fds` as
// SCM_RIGHTS (unix(7)); the receiver gets its own copies of the open files.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  int sock = info[0].As<Napi::Number>().Int32Value();
  Napi::Array list = info[1].As<Napi::Array>();
  uint32_t n = list.Length();
  if (n > 250) return Napi::Number::New(info.Env(), -EINVAL);
  std::vector<int> fds(n);
  for (uint32_t i = 0; i < n; i++) fds[i] = list.Get(i).As<Napi::Number>().Int32Value();
  char byte = 'w';
  struct iovec iov = {&byte, 1};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (n ? n : 1)), 0);
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (n) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * n);
  }
  ssize_t r;
  do r = sendmsg(sock, &msg, MSG_NOSIGNAL); while (r < 0 && errno == EINTR);
  return Napi::Number::New(info.Env(), r < 0 ? -errno : 0);
}

// recvFds(sock) -> fds[] (close-on-exec) or -errno; blocks until a message
// arrives; [] with no fds at all means the sender closed its end.
Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = info[0].As<Napi::Number>().Int32Value();
  char byte;
  struct iovec iov = {&byte, 1};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * 250), 0);
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (r < 0 && errno == EINTR);
  if (r < 0) return Napi::Number::New(env, -errno);
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int* fds = reinterpret_cast<int*>(CMSG_DATA(c));
    for (size_t i = 0; i < count; i++) out.Set(k++, fds[i]);
  }
  return out;
}

}  // namespace

void InitProc(Napi::Env env, Napi::Object exports) {
  Export<GetTid>(env, exports, "gettid");
  Export<IsAlive>(env, exports, "isAlive");
  Export<SetParentDeathSignal>(env, exports, "setParentDeathSignal");
  Export<SocketPair>(env, exports, "socketPair");
  Export<PeerClosed>(env, exports, "peerClosed");
  Export<SendFds>(env, exports, "sendFds");
  Export<RecvFds>(env, exports, "recvFds");
}

}  // namespace weft
