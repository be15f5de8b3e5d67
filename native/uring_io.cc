// weft/io's IoUring: the fifth I/O model of the lecture (asynchronous I/O,
// the kernel does the copy and reports completion) on Linux's io_uring. No
// Python twin: Python's stdlib has no io_uring binding.
//
// The ring itself is uring.h's (shared with futex.cc); this file prepares
// socket and file operations on it, registers a ring of provided receive
// buffers, and hands completions to TypeScript as (id, res, flags) triples in
// an Int32Array the caller owns, so a batch of completions costs one N-API
// call however large it is. Functions return -errno; src/io/uring.ts raises.
//
// Memory the kernel reads or writes after a call returns (a send's bytes, a
// recv's buffer) belongs to JavaScript, which keeps it reachable until the
// operation's last completion; the kernel copies a connect's address and a
// timeout's timespec while it takes the entry, so those live only until the
// next submit.
#include <errno.h>
#include <math.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <memory>

#include "uring.h"
#include "weft.h"

namespace weft {
namespace {

// Operations IoUring uses, and the oldest kernel that has them all in the
// form used here: multishot recv with provided buffers (6.0).
struct RequiredOp {
  uint8_t op;
  const char* name;
};
constexpr RequiredOp kRequired[] = {
    {IORING_OP_ACCEPT, "accept"}, {IORING_OP_CONNECT, "connect"}, {IORING_OP_RECV, "recv"},
    {IORING_OP_SEND, "send"},     {IORING_OP_READ, "read"},       {IORING_OP_WRITE, "write"},
    {IORING_OP_CLOSE, "close"},   {IORING_OP_TIMEOUT, "timeout"}, {IORING_OP_ASYNC_CANCEL, "cancel"},
    {IORING_OP_SENDMSG, "sendmsg"},
};

// user_data carries the operation's 31-bit id; this bit marks an accept, so
// that a drain at teardown, which has no JavaScript to ask, can close the
// sockets accepted while it cancels (ReapInto hands only the low 32 bits on).
constexpr uint64_t kAcceptTag = 1ull << 32;
// A send from a provided buffer (uringSendBuffer) carries its buffer id in
// bits 40-55 and this bit: its last completion hands the buffer back to the
// kernel here, without a JavaScript call.
constexpr uint64_t kGiveTag = 1ull << 33;
// ...and this one when nobody asked for its completion: it is consumed here
// and never reaches JavaScript (the buffer still goes back).
constexpr uint64_t kQuietTag = 1ull << 34;
constexpr int kBufferShift = 40;
// ...and this one marks an accept into the registered-file table: its result
// is a slot, not an fd, and the table closes the socket with the ring.
constexpr uint64_t kDirectTag = 1ull << 35;

// A file argument from JavaScript: an fd (>= 0), or slot s of the ring's
// registered files as -2 - s (-1 stays an invalid fd: EBADF).
void Target(struct io_uring_sqe* sqe, int32_t file) {
  if (file >= -1) {
    sqe->fd = file;
  } else {
    sqe->fd = -2 - file;
    sqe->flags |= IOSQE_FIXED_FILE;
  }
}

struct IoRing {
  Uring ring;
  BufRing bufs;
  napi_ref pool = nullptr;  // the JavaScript memory behind bufs
  napi_ref out_ref = nullptr;
  int32_t* out = nullptr;  // completions as (id, res, flags) triples
  unsigned out_slots = 0;
  // A timeout's timespec per submission slot, read by the kernel when it
  // takes the entry.
  std::unique_ptr<struct __kernel_timespec[]> timespecs;
  // Operations queued whose last completion has not been reaped (for Drain).
  unsigned inflight = 0;
  // Slots of the registered-file table (0: none registered).
  unsigned files = 0;
};

IoRing* RingArg(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, nullptr, "expected an io_uring handle");
    return nullptr;
  }
  IoRing* r = static_cast<IoRing*>(p);
  if (r->ring.fd() < 0) return nullptr;  // closed: callers return -EBADF
  return r;
}

// The bytes of a Uint8Array (or any typed array), or nullptr with a TypeError pending.
char* Bytes(napi_env env, napi_value v, size_t* length) {
  napi_typedarray_type type;
  size_t count;
  void* data;
  if (napi_get_typedarray_info(env, v, &type, &count, &data, nullptr, nullptr) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected a Uint8Array");
    return nullptr;
  }
  *length = count;
  // An empty array may have no memory at all; the kernel reads nothing at a
  // length of 0, but a null here would read as failure.
  static char empty;
  return data ? static_cast<char*>(data) : &empty;
}

// A zeroed entry for `id`, submitting first when the queue is full; nullptr
// when the kernel refuses even that (-EBUSY: completions must be reaped).
struct io_uring_sqe* Entry(IoRing* r, double id, int* err) {
  if (r->ring.Space() == 0) {
    int n = r->ring.Submit(true);
    if (n < 0 || r->ring.Space() == 0) {
      *err = n < 0 ? n : -EBUSY;
      return nullptr;
    }
  }
  struct io_uring_sqe* sqe = r->ring.Prepare();
  sqe->user_data = static_cast<uint64_t>(id);
  r->inflight++;
  return sqe;
}

// Moves up to out_slots completions into the caller's array: how many.
// A send from a provided buffer gives the buffer back on its way through;
// a quiet one is consumed here.
unsigned ReapInto(IoRing* r) {
  unsigned i = 0;
  bool gave = false;
  auto take = [r, &i, &gave](uint64_t data, int32_t res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE)) {
      r->inflight--;
      if (data & kGiveTag) {
        r->bufs.Add(static_cast<uint16_t>(data >> kBufferShift));
        gave = true;
      }
    }
    if (data & kQuietTag) return;
    r->out[i * 3] = static_cast<int32_t>(static_cast<uint32_t>(data));
    r->out[i * 3 + 1] = res;
    r->out[i * 3 + 2] = static_cast<int32_t>(flags);
    i++;
  };
  while (i < r->out_slots && r->ring.ReapUpTo(r->out_slots - i, take) > 0) {
  }
  if (gave) r->bufs.Publish();
  return i;
}

// A ring garbage-collected, or torn down with its worker thread, with
// operations in flight: cancel them and wait (up to a second) until the
// kernel has let go of their memory, which JavaScript is about to free.
// IoUring.close() drains the same way first, so there this finds nothing.
void Drain(IoRing* r) {
  if (r->ring.fd() < 0 || r->inflight == 0) return;
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, 0, &err);
  if (sqe) {
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
  }
  double deadline = Now() + 1;
  while (r->inflight > 0 && Now() < deadline) {
    if (r->ring.Enter(1, 0, deadline - Now(), true) < 0 && r->ring.Ready() == 0) break;
    r->ring.ReapUpTo(~0u, [r](uint64_t data, int32_t res, uint32_t flags) {
      if ((data & kAcceptTag) && !(data & kDirectTag) && res >= 0) close(res);
      if (!(flags & IORING_CQE_F_MORE)) r->inflight--;
    });
  }
}

void Release(napi_env env, IoRing* r) {
  r->bufs.Unregister();
  r->ring.Close();
  if (r->pool) napi_delete_reference(env, r->pool);
  if (r->out_ref) napi_delete_reference(env, r->out_ref);
  r->pool = nullptr;
  r->out_ref = nullptr;
}

void Finalize(napi_env env, void* data, void*) {
  IoRing* r = static_cast<IoRing*>(data);
  Drain(r);
  Release(env, r);
  delete r;
}

#define ARGS(n)                                               \
  size_t argc = n;                                            \
  napi_value argv[n];                                         \
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr); \
  (void)argc;

#define RING()                           \
  IoRing* r = RingArg(env, argv[0]);     \
  if (!r) return Num(env, -EBADF);

// uringProbe() -> 0 | -errno of io_uring_setup | 1000 + index of the first
// required operation this kernel lacks.
napi_value Probe(napi_env env, napi_callback_info info) {
  Uring ring;
  int err = ring.Open(2);
  if (err != 0) return Num(env, err);
  for (size_t i = 0; i < sizeof(kRequired) / sizeof(kRequired[0]); i++) {
    if (!ring.Supports(kRequired[i].op)) return Num(env, 1000 + static_cast<double>(i));
  }
  return Num(env, 0);
}

// uringOpName(index) -> the name of required operation `index`.
napi_value OpName(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t i = I32(env, argv[0]);
  napi_value out;
  const char* name = i >= 0 && i < static_cast<int32_t>(sizeof(kRequired) / sizeof(kRequired[0])) ? kRequired[i].name : "?";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &out);
  return out;
}

// uringOpen(entries, out: Int32Array, waitOnly) -> handle | -errno. `out`
// receives completions, three int32 each.
napi_value Open(napi_env env, napi_callback_info info) {
  ARGS(3);
  IoRing* r = new IoRing();
  // SUBMIT_ALL: an entry the kernel rejects (a bad fd) completes with its
  // error and the ones after it are still taken.
  //
  // COOP_TASKRUN (5.19): a completion does not interrupt this thread while it
  // runs JavaScript (an IPI and a trip through the kernel per completion);
  // the kernel finishes the work at the thread's next system call or sleep,
  // which batches it. (DEFER_TASKRUN would batch further but stops the ring
  // fd from waking an epoll that watches it: Node's event loop would hang.)
  // A ring driven by wait() alone (`waitOnly`) takes it: SINGLE_ISSUER |
  // DEFER_TASKRUN (6.1) keeps the kernel's work for a completion on a list
  // of the ring's own, run only inside io_uring_enter, in one batch.
  bool wait_only = false;
  napi_get_value_bool(env, argv[2], &wait_only);
  unsigned flags = wait_only ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : IORING_SETUP_COOP_TASKRUN;
  int err = r->ring.Open(static_cast<unsigned>(I32(env, argv[0])), IORING_SETUP_SUBMIT_ALL | flags);
  if (err != 0) {
    delete r;
    return Num(env, err);
  }
  size_t length = 0;
  napi_typedarray_type type;
  void* data;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_int32_array || length < 3) {
    delete r;
    napi_throw_type_error(env, nullptr, "expected an Int32Array of at least 3 elements");
    return nullptr;
  }
  r->out = static_cast<int32_t*>(data);
  r->out_slots = static_cast<unsigned>(length / 3);
  napi_create_reference(env, argv[1], 1, &r->out_ref);
  r->timespecs.reset(new struct __kernel_timespec[r->ring.sq_entries()]);
  napi_value out;
  napi_create_external(env, r, Finalize, nullptr, &out);
  return out;
}

// uringFd(handle) -> the ring's fd (-1 once closed).
napi_value Fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  void* p = nullptr;
  napi_get_value_external(env, argv[0], &p);
  return Num(env, p ? static_cast<IoRing*>(p)->ring.fd() : -1);
}

// uringBuffers(handle, pool: Uint8Array, size, count, group) -> 0 | -errno:
// registers `pool` as `count` receive buffers of `size` bytes.
napi_value Buffers(napi_env env, napi_callback_info info) {
  ARGS(5);
  RING();
  size_t length = 0;
  char* base = Bytes(env, argv[1], &length);
  if (!base) return nullptr;
  unsigned size = static_cast<unsigned>(I32(env, argv[2]));
  unsigned count = static_cast<unsigned>(I32(env, argv[3]));
  if (r->bufs.registered()) return Num(env, -EEXIST);
  if (static_cast<size_t>(size) * count > length) return Num(env, -EINVAL);
  int err = r->bufs.Register(r->ring.fd(), static_cast<uint16_t>(I32(env, argv[4])), base, size, count);
  if (err == 0) napi_create_reference(env, argv[1], 1, &r->pool);
  return Num(env, err);
}

// uringGive(handle, bufferId) -> 0: hands a receive buffer back to the kernel.
napi_value Give(napi_env env, napi_callback_info info) {
  ARGS(2);
  RING();
  if (!r->bufs.registered()) return Num(env, -EINVAL);
  r->bufs.Add(static_cast<uint16_t>(I32(env, argv[1])));
  r->bufs.Publish();
  return Num(env, 0);
}

// uringAccept(handle, id, fd, multishot, direct) -> 0 | -errno. Accepted
// sockets are close-on-exec and blocking, as socket.accept() makes them;
// `direct` puts each in a free slot of the registered files (the result is
// the slot) and gives it no fd at all.
napi_value Accept(napi_env env, napi_callback_info info) {
  ARGS(5);
  RING();
  bool multishot = false, direct = false;
  napi_get_value_bool(env, argv[3], &multishot);
  napi_get_value_bool(env, argv[4], &direct);
  if (direct && !r->files) return Num(env, -ENXIO);
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  sqe->opcode = IORING_OP_ACCEPT;
  sqe->user_data |= kAcceptTag | (direct ? kDirectTag : 0);
  Target(sqe, I32(env, argv[2]));
  // A slot has no fd to close on exec (the kernel refuses the flag with EINVAL).
  sqe->accept_flags = direct ? 0 : SOCK_CLOEXEC;
  if (direct) sqe->file_index = IORING_FILE_INDEX_ALLOC;
  if (multishot) sqe->ioprio |= IORING_ACCEPT_MULTISHOT;
  return Num(env, 0);
}

// uringFiles(handle, count) -> 0 | -errno: a table of `count` empty slots
// for registered files.
napi_value Files(napi_env env, napi_callback_info info) {
  ARGS(2);
  RING();
  if (r->files) return Num(env, -EEXIST);
  unsigned count = static_cast<unsigned>(I32(env, argv[1]));
  int err = r->ring.RegisterFiles(count);
  if (err == 0) r->files = count;
  return Num(env, err);
}

// uringConnect(handle, id, fd, sockaddr: Uint8Array) -> 0 | -errno.
napi_value Connect(napi_env env, napi_callback_info info) {
  ARGS(4);
  RING();
  size_t length = 0;
  char* addr = Bytes(env, argv[3], &length);
  if (!addr) return nullptr;
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  sqe->opcode = IORING_OP_CONNECT;
  Target(sqe, I32(env, argv[2]));
  sqe->addr = reinterpret_cast<uint64_t>(addr);
  sqe->off = length;  // the address length goes in `off` for connect
  return Num(env, 0);
}

// uringRecv(handle, id, fd, buf | null, offset, length, multishot) -> 0 | -errno.
// With buf null the kernel picks a provided buffer (the completion's flags
// name it); multishot keeps receiving until EOF, an error or a cancel.
napi_value Recv(napi_env env, napi_callback_info info) {
  ARGS(7);
  RING();
  napi_valuetype kind;
  napi_typeof(env, argv[3], &kind);
  char* base = nullptr;
  size_t length = 0;
  if (kind != napi_null) {
    base = Bytes(env, argv[3], &length);
    if (!base) return nullptr;
  } else if (!r->bufs.registered()) {
    return Num(env, -EINVAL);
  }
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  bool multishot = false;
  napi_get_value_bool(env, argv[6], &multishot);
  sqe->opcode = IORING_OP_RECV;
  Target(sqe, I32(env, argv[2]));
  if (base) {
    sqe->addr = reinterpret_cast<uint64_t>(base + I32(env, argv[4]));
    sqe->len = static_cast<uint32_t>(I32(env, argv[5]));
  } else {
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = r->bufs.group();
  }
  if (multishot) sqe->ioprio |= IORING_RECV_MULTISHOT;
  return Num(env, 0);
}

// Send (socket, MSG_NOSIGNAL as every weft send), read or write (file at a
// position; -1 means the file's own offset).
napi_value Transfer(napi_env env, napi_callback_info info, uint8_t op) {
  ARGS(7);
  RING();
  size_t length = 0;
  char* base = Bytes(env, argv[3], &length);
  if (!base) return nullptr;
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  sqe->opcode = op;
  Target(sqe, I32(env, argv[2]));
  sqe->addr = reinterpret_cast<uint64_t>(base + I32(env, argv[4]));
  sqe->len = static_cast<uint32_t>(I32(env, argv[5]));
  if (op == IORING_OP_SEND) {
    sqe->msg_flags = MSG_NOSIGNAL;
  } else {
    double position = F64(env, argv[6]);
    sqe->off = position < 0 ? ~0ull : static_cast<uint64_t>(position);
  }
  return Num(env, 0);
}

// uringSendBuffer(handle, id, fd, bufferId, offset, length, quiet) -> 0 | -errno:
// sends bytes [offset, offset + length) of provided buffer `bufferId` (a
// recv's data, echoed without a copy into JavaScript). MSG_WAITALL makes the
// kernel send the rest of a partial send itself on a stream socket (Linux
// 6.0's io_net_retry), so the completion is all of it or an error; then the
// buffer goes back to the kernel (ReapInto). `quiet`: no completion reaches
// JavaScript.
napi_value SendBuffer(napi_env env, napi_callback_info info) {
  ARGS(7);
  RING();
  if (!r->bufs.registered()) return Num(env, -EINVAL);
  int32_t buffer = I32(env, argv[3]);
  int32_t offset = I32(env, argv[4]);
  int32_t length = I32(env, argv[5]);
  if (buffer < 0 || static_cast<unsigned>(buffer) >= r->bufs.count() || offset < 0 || length < 0 ||
      static_cast<unsigned>(offset) + static_cast<unsigned>(length) > r->bufs.size()) {
    return Num(env, -EINVAL);
  }
  bool quiet = false;
  napi_get_value_bool(env, argv[6], &quiet);
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  sqe->user_data |= kGiveTag | (static_cast<uint64_t>(buffer) << kBufferShift) | (quiet ? kQuietTag : 0);
  sqe->opcode = IORING_OP_SEND;
  Target(sqe, I32(env, argv[2]));
  sqe->addr = reinterpret_cast<uint64_t>(r->bufs.slice(static_cast<uint16_t>(buffer)) + offset);
  sqe->len = static_cast<uint32_t>(length);
  sqe->msg_flags = MSG_NOSIGNAL | MSG_WAITALL;
  return Num(env, 0);
}

// uringSendmsg(handle, id, fd, scratch, buffers: Uint8Array[], ancdata: [level,
// type, Uint8Array][], flags, address | null) -> 0 | -errno. The msghdr, its
// iovecs and its control messages are built in `scratch`, which JavaScript
// sized with sendmsgScratch()'s rule and keeps, with every buffer, until the
// completion (the kernel may read the header when it runs the send, not
// only when it takes the entry). -EINVAL when scratch is too small.
napi_value Sendmsg(napi_env env, napi_callback_info info) {
  ARGS(8);
  RING();
  size_t room = 0;
  char* scratch = Bytes(env, argv[3], &room);
  if (!scratch) return nullptr;
  uint32_t nbuf = 0, nanc = 0;
  napi_get_array_length(env, argv[4], &nbuf);
  napi_get_array_length(env, argv[5], &nanc);
  // Layout: msghdr | iovec[nbuf] | control (CMSG_SPACE each), 8-aligned.
  size_t control_at = sizeof(struct msghdr) + nbuf * sizeof(struct iovec);
  size_t control_len = 0;
  for (uint32_t i = 0; i < nanc; i++) {
    napi_value item, data;
    napi_get_element(env, argv[5], i, &item);
    napi_get_element(env, item, 2, &data);
    size_t n = 0;
    if (!Bytes(env, data, &n)) return nullptr;
    control_len += CMSG_SPACE(n);
  }
  if (control_at + control_len > room || reinterpret_cast<uintptr_t>(scratch) % alignof(struct msghdr) != 0) {
    return Num(env, -EINVAL);
  }
  memset(scratch, 0, control_at + control_len);
  struct msghdr* msg = reinterpret_cast<struct msghdr*>(scratch);
  struct iovec* iov = reinterpret_cast<struct iovec*>(scratch + sizeof(struct msghdr));
  for (uint32_t i = 0; i < nbuf; i++) {
    napi_value b;
    napi_get_element(env, argv[4], i, &b);
    size_t n = 0;
    char* base = Bytes(env, b, &n);
    if (!base) return nullptr;
    iov[i].iov_base = base;
    iov[i].iov_len = n;
  }
  msg->msg_iov = iov;
  msg->msg_iovlen = nbuf;
  if (nanc > 0) {
    msg->msg_control = scratch + control_at;
    msg->msg_controllen = control_len;
    struct cmsghdr* c = CMSG_FIRSTHDR(msg);
    for (uint32_t i = 0; i < nanc && c; i++, c = CMSG_NXTHDR(msg, c)) {
      napi_value item, v;
      napi_get_element(env, argv[5], i, &item);
      napi_get_element(env, item, 0, &v);
      c->cmsg_level = I32(env, v);
      napi_get_element(env, item, 1, &v);
      c->cmsg_type = I32(env, v);
      napi_get_element(env, item, 2, &v);
      size_t n = 0;
      char* data = Bytes(env, v, &n);
      c->cmsg_len = CMSG_LEN(n);
      memcpy(CMSG_DATA(c), data, n);
    }
  }
  napi_valuetype kind;
  napi_typeof(env, argv[7], &kind);
  if (kind != napi_null) {
    size_t n = 0;
    char* name = Bytes(env, argv[7], &n);
    if (!name) return nullptr;
    msg->msg_name = name;
    msg->msg_namelen = static_cast<socklen_t>(n);
  }
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  sqe->opcode = IORING_OP_SENDMSG;
  Target(sqe, I32(env, argv[2]));
  sqe->addr = reinterpret_cast<uint64_t>(msg);
  sqe->len = 1;
  sqe->msg_flags = static_cast<uint32_t>(I32(env, argv[6])) | MSG_NOSIGNAL;
  return Num(env, 0);
}

// uringSend(handle, id, fd, buf, offset, length, 0) -> 0 | -errno.
napi_value Send(napi_env env, napi_callback_info info) { return Transfer(env, info, IORING_OP_SEND); }
// uringRead(handle, id, fd, buf, offset, length, position) -> 0 | -errno.
napi_value Read(napi_env env, napi_callback_info info) { return Transfer(env, info, IORING_OP_READ); }
// uringWrite(handle, id, fd, buf, offset, length, position) -> 0 | -errno.
napi_value Write(napi_env env, napi_callback_info info) { return Transfer(env, info, IORING_OP_WRITE); }

// uringCloseFd(handle, id, fd) -> 0 | -errno.
napi_value CloseFd(napi_env env, napi_callback_info info) {
  ARGS(3);
  RING();
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  sqe->opcode = IORING_OP_CLOSE;
  int32_t file = I32(env, argv[2]);
  if (file < -1) {
    sqe->file_index = static_cast<uint32_t>(-2 - file) + 1;  // a registered slot, 1-based here (5.15)
  } else {
    sqe->fd = file;
  }
  return Num(env, 0);
}

// uringTimeout(handle, id, seconds) -> 0 | -errno. Completes with -ETIME.
napi_value Timeout(napi_env env, napi_callback_info info) {
  ARGS(3);
  RING();
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  double seconds = F64(env, argv[2]);
  struct __kernel_timespec* ts = &r->timespecs[r->ring.LastIndex()];
  ts->tv_sec = static_cast<int64_t>(seconds);
  ts->tv_nsec = static_cast<long long>((seconds - floor(seconds)) * 1e9);
  sqe->opcode = IORING_OP_TIMEOUT;
  sqe->addr = reinterpret_cast<uint64_t>(ts);
  sqe->len = 1;
  return Num(env, 0);
}

// uringCancel(handle, id, targetId | -1) -> 0 | -errno. -1 cancels every
// operation in flight (IORING_ASYNC_CANCEL_ANY, 5.19).
napi_value Cancel(napi_env env, napi_callback_info info) {
  ARGS(3);
  RING();
  int err = 0;
  struct io_uring_sqe* sqe = Entry(r, F64(env, argv[1]), &err);
  if (!sqe) return Num(env, err);
  double target = F64(env, argv[2]);
  sqe->opcode = IORING_OP_ASYNC_CANCEL;
  sqe->fd = -1;
  if (target < 0) {
    sqe->cancel_flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
  } else {
    sqe->addr = static_cast<uint64_t>(target);  // a multishot target is one request: all its shots end
  }
  return Num(env, 0);
}

// uringSubmit(handle) -> entries taken | -errno.
napi_value Submit(napi_env env, napi_callback_info info) {
  ARGS(1);
  RING();
  return Num(env, r->ring.pending() ? r->ring.Submit(true) : 0);
}

// uringWait(handle, minComplete, timeoutSeconds | -1) -> completions copied
// into `out` | -errno. Submits first; blocks the calling thread until
// minComplete completions are ready (fewer when the time runs out: then
// whatever is ready, possibly 0).
napi_value Wait(napi_env env, napi_callback_info info) {
  ARGS(3);
  RING();
  unsigned want = static_cast<unsigned>(I32(env, argv[1]));
  if (want > r->out_slots) want = r->out_slots;
  double timeout = F64(env, argv[2]);
  double deadline = timeout >= 0 ? Now() + timeout : -1;
  for (;;) {
    unsigned ready = r->ring.Ready();
    unsigned need = ready >= want ? 0 : want - ready;
    if (need == 0 && r->ring.pending() == 0) break;
    double left = deadline < 0 ? -1 : deadline - Now();
    if (left < 0 && deadline >= 0) left = 0;
    int n = r->ring.Enter(need, 0, left, true);
    if (n == -ETIME || (deadline >= 0 && Now() >= deadline)) break;
    if (n < 0 && n != -EINTR) {
      if (r->ring.Ready() > 0) break;  // deliver what is there; the error comes back next time
      return Num(env, n);
    }
  }
  return Num(env, ReapInto(r));
}

// uringReap(handle) -> completions copied into `out` (none waited for).
napi_value Reap(napi_env env, napi_callback_info info) {
  ARGS(1);
  RING();
  return Num(env, ReapInto(r));
}

// uringClose(handle) -> 0. IoUring.close() has cancelled and drained what
// was in flight (Drain is the fallback): closing the fd would cancel it too,
// but asynchronously, while JavaScript may already free the buffers.
napi_value Close(napi_env env, napi_callback_info info) {
  ARGS(1);
  void* p = nullptr;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || !p) return Num(env, -EBADF);
  Drain(static_cast<IoRing*>(p));
  Release(env, static_cast<IoRing*>(p));
  return Num(env, 0);
}

}  // namespace

void InitUringIo(Napi::Env env, Napi::Object exports) {
  ExportRaw(env, exports, "uringProbe", Probe);
  ExportRaw(env, exports, "uringOpName", OpName);
  ExportRaw(env, exports, "uringOpen", Open);
  ExportRaw(env, exports, "uringFd", Fd);
  ExportRaw(env, exports, "uringBuffers", Buffers);
  ExportRaw(env, exports, "uringGive", Give);
  ExportRaw(env, exports, "uringAccept", Accept);
  ExportRaw(env, exports, "uringFiles", Files);
  ExportRaw(env, exports, "uringConnect", Connect);
  ExportRaw(env, exports, "uringRecv", Recv);
  ExportRaw(env, exports, "uringSend", Send);
  ExportRaw(env, exports, "uringSendmsg", Sendmsg);
  ExportRaw(env, exports, "uringSendBuffer", SendBuffer);
  ExportRaw(env, exports, "uringRead", Read);
  ExportRaw(env, exports, "uringWrite", Write);
  ExportRaw(env, exports, "uringCloseFd", CloseFd);
  ExportRaw(env, exports, "uringTimeout", Timeout);
  ExportRaw(env, exports, "uringCancel", Cancel);
  ExportRaw(env, exports, "uringSubmit", Submit);
  ExportRaw(env, exports, "uringWait", Wait);
  ExportRaw(env, exports, "uringReap", Reap);
  ExportRaw(env, exports, "uringClose", Close);
}

}  // namespace weft
