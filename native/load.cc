// The engine of `weft load` (src/cli/load.ts): its closed and open loops over
// one epoll set, in C, so that the load generator's CPU goes to the kernel's
// TCP and not to a JavaScript call per send, recv and check. JavaScript sets
// the connections up, runs the engine in slices (for the warm-up, the progress
// line and the histogram) and reports.
//
// Every message carries its sequence number (uint32 LE) in its first 4 bytes
// over a fixed byte pattern, and every echoed byte is compared with what was
// sent, so loss, duplication, reordering and corruption are all caught.
// Latency runs from each message's *intended* send time: in the open loop
// that is its slot in the schedule, so a stalled server shows in the latency
// instead of slowing the load down (no coordinated omission).
//
// Churn (loadChurn) measures connection set-up instead: each of `concurrency`
// slots connects, sends one message, checks its echo, closes and connects
// again, as fast as the server lets it; its latency runs from connect() to the
// echo, and the engine owns (and closes) those sockets. The client closes
// first, so its side keeps the TIME_WAIT; Linux reuses such ports for new
// loopback connections (net.ipv4.tcp_tw_reuse, 2 by default), so a long churn
// does not run out of ephemeral ports. A slot whose connect fails is counted
// as an error and not retried, so a refusing server cannot spin the engine.
//
// The io_uring engine (loadCreate's `uring`, `weft load --engine uring`) runs
// the same loops on completions instead of readiness: a multishot recv per
// connection into a ring of provided buffers, each send an IORING_OP_SEND
// (MSG_WAITALL: the kernel finishes a partial send), and one io_uring_enter
// per batch that submits the batch's sends and waits for the next
// completions -- no recv or send system call per message. The connections
// are the ring's registered files (slot i is connection i), so the kernel
// skips an fd look-up per operation; the plain fds serve where the kernel
// refuses the table.
#include "uring.h"
#include "weft.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

namespace weft {
namespace {

void Stamp(uint8_t* msg, size_t size, uint32_t seq) {
  if (size >= 4) memcpy(msg, &seq, 4);  // little-endian on every Linux weft builds for
}

struct Conn {
  int fd;
  bool alive = true;
  bool connecting = false;  // churn: connect() not completed yet
  bool answered = false;    // a message came back on it (churn: on any of the slot's connections)
  uint32_t sendSeq = 0;
  uint32_t recvSeq = 0;
  size_t rpos = 0;                 // bytes of the current incoming message already checked
  std::vector<uint8_t> expect;     // the message expected next
  std::deque<double> times;        // intended send times of the messages in flight
  std::vector<uint8_t> pending;    // bytes the kernel did not take yet
  size_t pendingOff = 0;
  // io_uring: the bytes of the send in flight (the kernel reads them until
  // its completion; `pending` collects what comes meanwhile), and whether
  // the multishot recv is armed.
  std::vector<uint8_t> sending;
  bool sendBusy = false;
  bool recvArmed = false;
};

// io_uring user_data: the connection's index, and what the operation is.
constexpr uint64_t kOpRecv = 1ull << 32;
constexpr uint64_t kOpSend = 2ull << 32;
constexpr uint64_t kOpCancel = 3ull << 32;
constexpr uint64_t kOpMask = 3ull << 32;
constexpr unsigned kBufSize = 4096;

struct Engine {
  int epfd = -1;
  size_t size = 0;
  int depth = 1;
  double intervalMs = 0;  // open loop: ms between messages; 0: closed loop
  bool churn = false;     // connect, one echo, close, again (the engine owns the fds)
  bool uring = false;     // completions (io_uring) instead of readiness (epoll)
  Uring ring;
  BufRing bufs;
  std::vector<char> pool;  // the provided buffers' memory
  unsigned inflight = 0;   // io_uring operations whose last completion has not come
  bool fixed = false;      // io_uring: the connections are registered files, by index
  struct sockaddr_in addr;
  std::vector<uint8_t> pattern;
  std::vector<uint8_t> batch;
  std::vector<uint8_t> rbuf;
  std::vector<Conn> conns;
  std::vector<int> byFd;  // fd -> index in conns, or -1
  bool started = false;
  double t0 = 0;
  uint64_t scheduled = 0;  // open loop: messages sent on the schedule so far
  std::map<std::string, double> errors;
  double errorCount = 0;
  // the current slice
  bool measuring = false;
  std::vector<double> latencies;  // one per message completed in the slice (when measuring)

  ~Engine() { Close(); }

  // Releases the epoll fd (or the ring) and, in churn, the sockets the engine opened.
  void Close() {
    CloseRing();
    if (churn) {
      for (Conn& c : conns) {
        if (c.alive) Drop(c);
        c.alive = false;
      }
    }
    if (epfd >= 0) close(epfd);
    epfd = -1;
  }

  void Fail(Conn& c, const std::string& kind) {
    errors[kind]++;
    errorCount++;
    if (c.alive) {
      c.alive = false;
      if (churn) {
        Drop(c);
      } else if (uring) {
        if (c.recvArmed) Cancel(c);
      } else {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
      }
    }
  }

  // Churn: close the slot's socket (close() also takes it out of the epoll set).
  void Drop(Conn& c) {
    if (c.fd < 0) return;
    byFd[c.fd] = -1;
    close(c.fd);
    c.fd = -1;
  }

  // Churn: a new non-blocking connection on slot `c`, started at `now` (ms).
  void Open(Conn& c, double now) {
    c.alive = true;
    c.connecting = true;
    c.sendSeq = c.recvSeq = 0;
    c.rpos = 0;
    c.expect = pattern;
    Stamp(c.expect.data(), size, 0);
    c.times.clear();
    c.times.push_back(now);
    c.pending.clear();
    c.pendingOff = 0;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      c.alive = false;
      errors["socket errno " + std::to_string(errno)]++;
      errorCount++;
      return;
    }
    if (c.fd >= static_cast<int>(byFd.size())) byFd.resize(c.fd + 1, -1);
    byFd[c.fd] = static_cast<int>(&c - conns.data());
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int r = connect(c.fd, reinterpret_cast<const struct sockaddr*>(&addr), sizeof(addr));
    if (r < 0 && errno != EINPROGRESS) return Fail(c, "connect errno " + std::to_string(errno));
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLOUT;
    ev.data.fd = c.fd;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c.fd, &ev) < 0) Fail(c, "epoll_ctl errno " + std::to_string(errno));
  }

  // Churn: the connect of `c` finished (EPOLLOUT or an error): send its one message.
  void Connected(Conn& c) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err != 0) return Fail(c, "connect errno " + std::to_string(err));
    c.connecting = false;
    Watch(c, EPOLLIN);
    double started = c.times.front();
    c.times.clear();
    Send(c, 1, started);
  }

  void Watch(Conn& c, uint32_t events) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.fd = c.fd;
    epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev);
  }

  // Queue `count` messages on `c`, intended at `when` (ms).
  void Send(Conn& c, size_t count, double when) {
    for (size_t k = 0; k < count; k++) {
      Stamp(&batch[k * size], size, c.sendSeq++);
      c.times.push_back(when);
    }
    size_t len = count * size;
    if (uring) {
      c.pending.insert(c.pending.end(), batch.begin(), batch.begin() + len);
      if (!c.sendBusy) SendNext(c);
      return;
    }
    if (c.pendingOff < c.pending.size()) {
      c.pending.insert(c.pending.end(), batch.begin(), batch.begin() + len);
      return;
    }
    ssize_t n = send(c.fd, batch.data(), len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(len)) return;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return Fail(c, "send errno " + std::to_string(errno));
    size_t sent = n > 0 ? n : 0;
    c.pending.assign(batch.begin() + sent, batch.begin() + len);
    c.pendingOff = 0;
    Watch(c, EPOLLIN | EPOLLOUT);
  }

  void Flush(Conn& c) {
    size_t left = c.pending.size() - c.pendingOff;
    ssize_t n = send(c.fd, c.pending.data() + c.pendingOff, left, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(left)) {
      c.pending.clear();
      c.pendingOff = 0;
      Watch(c, EPOLLIN);
    } else if (n >= 0) {
      c.pendingOff += n;
    } else if (errno != EAGAIN && errno != EINTR) {
      Fail(c, "send errno " + std::to_string(errno));
    }
  }

  // Check the `n` bytes just read on `c` (at `data`); count and time each message completed.
  size_t Receive(Conn& c, const uint8_t* data, size_t n, double now) {
    size_t done = 0;
    for (size_t i = 0; i < n;) {
      size_t take = size - c.rpos < n - i ? size - c.rpos : n - i;
      if (memcmp(&data[i], &c.expect[c.rpos], take) != 0) {
        Fail(c, "echo mismatch");
        return done;
      }
      i += take;
      c.rpos += take;
      if (c.rpos == size) {
        c.rpos = 0;
        if (c.times.empty()) {  // only possible for messages too short to carry a sequence number
          Fail(c, "echo of a message never sent");
          return done;
        }
        double sent = c.times.front();
        c.times.pop_front();
        if (measuring) {
          double us = round((now - sent) * 1000);
          latencies.push_back(us < 1 ? 1 : us);
        }
        Stamp(c.expect.data(), size, ++c.recvSeq);
        c.answered = true;
        done++;
      }
    }
    return done;
  }

  // io_uring: the ring, its provided buffers and a multishot recv per connection. 0 or -errno.
  int OpenRing() {
    uring = true;
    unsigned entries = 1;
    while (entries < conns.size() * 2 && entries < 4096) entries <<= 1;
    if (entries < 64) entries = 64;
    int err = ring.Open(entries, IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN);
    if (err != 0) return err;
    std::vector<int> fds(conns.size());
    for (size_t i = 0; i < conns.size(); i++) fds[i] = conns[i].fd;
    fixed = ring.RegisterFiles(fds.data(), static_cast<unsigned>(fds.size())) == 0;
    unsigned count = 256;
    while (count < conns.size() * 4 && count < 8192) count <<= 1;  // at most 32 MiB
    pool.resize(static_cast<size_t>(count) * kBufSize);
    err = bufs.Register(ring.fd(), 0, pool.data(), kBufSize, count);
    if (err != 0) return err;
    for (Conn& c : conns) Arm(c);
    return 0;
  }

  // Releases the ring after cancelling what is in flight and waiting (up to
  // a second) for the kernel to let go of the memory it reads and writes.
  void CloseRing() {
    if (ring.fd() < 0) return;
    if (inflight > 0) {
      struct io_uring_sqe* sqe = Sqe(kOpCancel);
      if (sqe) {
        sqe->opcode = IORING_OP_ASYNC_CANCEL;
        sqe->fd = -1;
        sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
      }
      double deadline = Now() + 1;
      while (inflight > 0 && Now() < deadline) {
        if (ring.Enter(1, 0, deadline - Now(), false) < 0 && ring.Ready() == 0) break;
        ring.ReapUpTo(~0u, [this](uint64_t data, int32_t, uint32_t flags) {
          if ((data & kOpMask) != kOpCancel && !(flags & IORING_CQE_F_MORE)) inflight--;
        });
      }
    }
    bufs.Unregister();
    ring.Close();
  }

  // A zeroed submission entry carrying `data`, submitting first when the queue is full.
  struct io_uring_sqe* Sqe(uint64_t data) {
    if (ring.Space() == 0 && (ring.Submit(true) < 0 || ring.Space() == 0)) {
      errors["io_uring submit"]++;
      errorCount++;
      return nullptr;
    }
    struct io_uring_sqe* sqe = ring.Prepare();
    sqe->user_data = data;
    if ((data & kOpMask) != kOpCancel) inflight++;
    return sqe;
  }

  uint64_t Index(const Conn& c) const { return static_cast<uint64_t>(&c - conns.data()); }

  // The entry acts on connection `c`: its registered slot, or its fd.
  void Target(struct io_uring_sqe* sqe, const Conn& c) {
    if (fixed) {
      sqe->fd = static_cast<int32_t>(Index(c));
      sqe->flags |= IOSQE_FIXED_FILE;
    } else {
      sqe->fd = c.fd;
    }
  }

  void Arm(Conn& c) {
    struct io_uring_sqe* sqe = Sqe(kOpRecv | Index(c));
    if (!sqe) return Fail(c, "io_uring submit");
    sqe->opcode = IORING_OP_RECV;
    Target(sqe, c);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = bufs.group();
    sqe->ioprio = IORING_RECV_MULTISHOT;
    c.recvArmed = true;
  }

  void Cancel(Conn& c) {
    struct io_uring_sqe* sqe = Sqe(kOpCancel | Index(c));
    if (!sqe) return;
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->addr = kOpRecv | Index(c);
  }

  // io_uring: send what `c` has queued, as one operation.
  void SendNext(Conn& c) {
    if (c.pendingOff >= c.pending.size() || !c.alive) return;
    c.sending.swap(c.pending);
    c.pending.clear();
    c.pendingOff = 0;
    struct io_uring_sqe* sqe = Sqe(kOpSend | Index(c));
    if (!sqe) return Fail(c, "io_uring submit");
    sqe->opcode = IORING_OP_SEND;
    Target(sqe, c);
    sqe->addr = reinterpret_cast<uint64_t>(c.sending.data());
    sqe->len = static_cast<uint32_t>(c.sending.size());
    sqe->msg_flags = MSG_NOSIGNAL | MSG_WAITALL;
    c.sendBusy = true;
  }

  // io_uring: one completion.
  void Complete(uint64_t data, int32_t res, uint32_t flags, double now) {
    uint64_t op = data & kOpMask;
    if (op == kOpCancel) return;
    bool more = flags & IORING_CQE_F_MORE;
    if (!more) inflight--;
    Conn& c = conns[static_cast<uint32_t>(data)];
    if (op == kOpSend) {
      c.sendBusy = false;
      if (!c.alive) return;
      if (res < 0) return Fail(c, "send errno " + std::to_string(-res));
      return SendNext(c);
    }
    size_t got = 0;
    if (flags & IORING_CQE_F_BUFFER) {
      uint16_t id = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
      if (res > 0 && c.alive) got = Receive(c, reinterpret_cast<const uint8_t*>(bufs.slice(id)), res, now);
      bufs.Add(id);
      bufs.Publish();
    }
    if (!more) c.recvArmed = false;
    if (!c.alive) return;
    if (res == 0) return Fail(c, "server closed the connection");
    if (res < 0 && res != -ENOBUFS) return Fail(c, "recv errno " + std::to_string(-res));
    if (intervalMs == 0 && got > 0) Send(c, got, now);
    if (!more) Arm(c);  // ENOBUFS (every buffer in use: they are back now), or the kernel ended it
  }

  // io_uring: wait up to `timeoutMs` for completions and handle them.
  void Turn(double timeoutMs) {
    int n = ring.Enter(1, 0, timeoutMs <= 0 ? 0 : timeoutMs / 1000, true);
    if (n < 0 && n != -ETIME && n != -EINTR && n != -EBUSY) {
      errors["io_uring_enter errno " + std::to_string(-n)]++;
      errorCount++;
    }
    double now = Now() * 1e3;
    ring.ReapUpTo(~0u, [this, now](uint64_t data, int32_t res, uint32_t flags) { Complete(data, res, flags, now); });
  }

  // Run the load for `seconds` (the first call starts it).
  void Run(double seconds) {
    double now = Now() * 1e3;
    double end = now + seconds * 1000;
    if (!started) {
      started = true;
      t0 = now;
      if (churn) {
        for (Conn& c : conns) Open(c, now);
      } else if (intervalMs == 0) {
        for (Conn& c : conns) Send(c, depth, now);
      }
    }
    if (uring) return RunRing(now, end);
    int maxevents = conns.size() < 1024 ? static_cast<int>(conns.size()) : 1024;
    if (maxevents < 1) maxevents = 1;
    std::vector<struct epoll_event> evs(maxevents);
    while (now < end) {
      double timeout = end - now;
      if (intervalMs > 0) {
        double due = t0 + scheduled * intervalMs - now;
        if (due < timeout) timeout = due;
      }
      int n = epoll_wait(epfd, evs.data(), maxevents, timeout <= 0 ? 0 : static_cast<int>(ceil(timeout)));
      if (n < 0 && errno != EINTR) {
        errors["epoll_wait errno " + std::to_string(errno)]++;
        errorCount++;
        return;
      }
      now = Now() * 1e3;
      for (int e = 0; e < n; e++) {
        int fd = evs[e].data.fd;
        if (fd < 0 || fd >= static_cast<int>(byFd.size()) || byFd[fd] < 0) continue;
        Conn& c = conns[byFd[fd]];
        if (!c.alive) continue;
        uint32_t ev = evs[e].events;
        if (c.connecting) {
          // an event left from the slot's previous socket (same fd number) says nothing of this one
          if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) Connected(c);
          continue;
        }
        if ((ev & EPOLLOUT) && c.pendingOff < c.pending.size()) Flush(c);
        if (!(ev & ~EPOLLOUT) || !c.alive) continue;
        ssize_t r = recv(fd, rbuf.data(), rbuf.size(), MSG_DONTWAIT);
        if (r < 0) {
          if (errno != EAGAIN && errno != EINTR) Fail(c, "recv errno " + std::to_string(errno));
          continue;
        }
        if (r == 0) {
          Fail(c, "server closed the connection");
          continue;
        }
        size_t got = Receive(c, rbuf.data(), r, now);
        if (churn && got > 0 && c.alive) {
          Drop(c);
          Open(c, now);
        } else if (intervalMs == 0 && got > 0 && c.alive) {
          Send(c, got, now);
        }
      }
      if (intervalMs > 0) Schedule(now);
    }
  }

  // The loops of Run on the ring.
  void RunRing(double now, double end) {
    while (now < end) {
      double timeout = end - now;
      if (intervalMs > 0) {
        double due = t0 + scheduled * intervalMs - now;
        if (due < timeout) timeout = due;
      }
      Turn(timeout);
      now = Now() * 1e3;
      if (intervalMs > 0) Schedule(now);
    }
  }

  // Open loop: everything due by `now` leaves now, stamped with the time it was due.
  void Schedule(double now) {
    while (t0 + scheduled * intervalMs <= now) {
      Conn& c = conns[scheduled % conns.size()];
      if (c.alive) Send(c, 1, t0 + scheduled * intervalMs);
      scheduled++;
    }
  }
};

// Tags the engines this file makes, so that another addon's external (or a
// forged one) passed to loadRun is refused instead of used as an Engine.
const napi_type_tag kEngineTag = {0x7765667440ad10adULL, 0x9e3779b97f4a7c15ULL};

Engine* EngineOf(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(v.Env(), v, &kEngineTag, &tagged) != napi_ok || !tagged) return nullptr;
  return v.As<Napi::External<Engine>>().Data();
}

// loadCreate(fds: Int32Array, size, depth, ratePerSecond, uring) -> engine | -errno.
// The fds are connected, non-blocking TCP sockets; the caller keeps and closes them.
// `uring`: the io_uring engine instead of epoll.
Napi::Value LoadCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  auto* e = new Engine();
  e->size = info[1].As<Napi::Number>().Int64Value();
  e->depth = info[2].As<Napi::Number>().Int32Value();
  double rate = info[3].As<Napi::Number>().DoubleValue();
  e->intervalMs = rate > 0 ? 1000 / rate : 0;
  // `weft load` bounds these before connecting (LIMITS in src/cli/load.ts);
  // this keeps any other caller from asking for buffers that cannot exist.
  if (e->size < 1 || e->depth < 1 || fds.ElementLength() < 1 || e->size > (size_t{1} << 24) ||
      e->size * static_cast<size_t>(e->depth) > (size_t{1} << 26)) {
    delete e;
    return Napi::Number::New(env, -EINVAL);
  }
  bool uring = info[4].ToBoolean();
  e->epfd = uring ? -1 : epoll_create1(EPOLL_CLOEXEC);
  if (!uring && e->epfd < 0) {
    int err = errno;
    delete e;
    return Napi::Number::New(env, -err);
  }
  std::vector<uint8_t>& pattern = e->pattern;
  pattern.resize(e->size);
  for (size_t i = 0; i < e->size; i++) pattern[i] = (i * 31 + 7) & 0xff;
  size_t inFlight = e->intervalMs > 0 ? 1 : e->depth;
  e->batch.resize(e->size * inFlight);
  for (size_t k = 0; k < inFlight; k++) memcpy(&e->batch[k * e->size], pattern.data(), e->size);
  e->rbuf.resize(e->size * 4 > 65536 ? e->size * 4 : 65536);
  e->conns.resize(fds.ElementLength());
  for (size_t i = 0; i < fds.ElementLength(); i++) {
    Conn& c = e->conns[i];
    c.fd = fds[i];
    c.expect = pattern;
    Stamp(c.expect.data(), e->size, 0);
    if (c.fd >= static_cast<int>(e->byFd.size())) e->byFd.resize(c.fd + 1, -1);
    e->byFd[c.fd] = static_cast<int>(i);
    if (uring) continue;
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.fd = c.fd;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, c.fd, &ev) < 0) {
      int err = errno;
      delete e;
      return Napi::Number::New(env, -err);
    }
  }
  if (uring) {
    int err = e->OpenRing();
    if (err != 0) {
      delete e;
      return Napi::Number::New(env, err);
    }
  }
  auto engine = Napi::External<Engine>::New(env, e, [](Napi::Env, Engine* p) { delete p; });
  napi_type_tag_object(env, engine, &kEngineTag);
  return engine;
}

// loadChurn(ipv4, port, size, concurrency) -> engine | -errno: `concurrency`
// slots that each connect to ipv4:port (dotted quad), send one `size`-byte
// message, check its echo, close and start again; loadRun then counts one
// message per connection and times it from connect() to the echo.
Napi::Value LoadChurn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string host = info[0].As<Napi::String>().Utf8Value();
  int64_t port = info[1].As<Napi::Number>().Int64Value();
  int64_t size = info[2].As<Napi::Number>().Int64Value();
  int64_t concurrency = info[3].As<Napi::Number>().Int64Value();
  auto* e = new Engine();
  e->churn = true;
  memset(&e->addr, 0, sizeof(e->addr));
  e->addr.sin_family = AF_INET;
  e->addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &e->addr.sin_addr) != 1 || port < 1 || port > 65535 || size < 1 ||
      size > (int64_t{1} << 24) || concurrency < 1 || concurrency > 65535) {
    delete e;
    return Napi::Number::New(env, -EINVAL);
  }
  e->size = size;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (e->epfd < 0) {
    int err = errno;
    delete e;
    return Napi::Number::New(env, -err);
  }
  e->pattern.resize(e->size);
  for (size_t i = 0; i < e->size; i++) e->pattern[i] = (i * 31 + 7) & 0xff;
  e->batch = e->pattern;
  e->rbuf.resize(e->size * 4 > 65536 ? e->size * 4 : 65536);
  e->conns.resize(concurrency);
  for (Conn& c : e->conns) {
    c.fd = -1;
    c.alive = false;
  }
  auto engine = Napi::External<Engine>::New(env, e, [](Napi::Env, Engine* p) { delete p; });
  napi_type_tag_object(env, engine, &kEngineTag);
  return engine;
}

// loadRun(engine, seconds, measuring) -> [latencies µs (Float64Array), errors so far, settled]:
// one latency per message completed while measuring; settled: connections (churn: slots)
// that have had a reply or are dead, so that a warm-up can last until the server answers all.
// Blocks the calling thread for `seconds`.
Napi::Value LoadRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = EngineOf(info[0]);
  if (e == nullptr) {
    Napi::TypeError::New(env, "expected a load engine").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  e->measuring = info[2].ToBoolean();
  e->latencies.clear();
  e->Run(info[1].As<Napi::Number>().DoubleValue());
  double settled = 0;
  for (const Conn& c : e->conns) settled += c.answered || !c.alive;
  Napi::Float64Array lat = Napi::Float64Array::New(env, e->latencies.size());
  if (!e->latencies.empty()) memcpy(lat.Data(), e->latencies.data(), e->latencies.size() * sizeof(double));
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, lat);
  out.Set(1u, Napi::Number::New(env, e->errorCount));
  out.Set(2u, Napi::Number::New(env, settled));
  return out;
}

// loadClose(engine): releases its epoll fd (and a churn's sockets) now rather
// than when the engine is collected.
Napi::Value LoadClose(const Napi::CallbackInfo& info) {
  Engine* e = EngineOf(info[0]);
  if (e != nullptr) e->Close();
  return info.Env().Undefined();
}

// loadErrors(engine) -> { kind: count } for every error so far.
Napi::Value LoadErrors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine* e = EngineOf(info[0]);
  Napi::Object out = Napi::Object::New(env);
  if (e == nullptr) return out;
  for (const auto& kv : e->errors) out.Set(kv.first, Napi::Number::New(env, kv.second));
  return out;
}

}  // namespace

void InitLoad(Napi::Env env, Napi::Object exports) {
  Export<LoadCreate>(env, exports, "loadCreate");
  Export<LoadChurn>(env, exports, "loadChurn");
  Export<LoadRun>(env, exports, "loadRun");
  Export<LoadErrors>(env, exports, "loadErrors");
  Export<LoadClose>(env, exports, "loadClose");
}

}  // namespace weft
