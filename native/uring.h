// A minimal io_uring: setup, one submission at a time, reaping completions.
// weft speaks the three system calls directly instead of linking liburing: it
// needs a handful of operations, the kernel's ABI for them is stable, and a
// library would be one more thing a machine without a compiler cannot build
// (prebuilds link nothing beyond libc).
//
// Used by futex.cc to sleep on a futex word without a helper thread: the
// kernel completes an IORING_OP_FUTEX_WAIT (Linux 6.7+) on the very thread
// that submitted it, and the ring's fd, polled by the event loop, wakes that
// thread once -- as a blocked read() wakes a Python process. uring_io.cc
// (weft/io's IoUring) adds batches of socket and file operations, waits with
// a time-out and a ring of provided receive buffers (BufRing below).
#pragma once
#include <linux/io_uring.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <errno.h>
#include <string.h>
#include <time.h>

namespace weft {

// Opcodes newer than the kernel headers a machine may build against (Debian
// 12 ships 6.1's): the numbers are ABI and never change.
constexpr uint8_t kOpFutexWait = 51;
// futex2 flags of IORING_OP_FUTEX_WAIT: a 32-bit word, shared between
// processes (no FUTEX2_PRIVATE, for the same reason as futex.cc's waits).
constexpr uint32_t kFutex2SizeU32 = 0x02;

class Uring {
 public:
  Uring() = default;
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;
  ~Uring() { Close(); }

  // 0, or -errno: ENOSYS (kernel without io_uring), EPERM (a container's
  // seccomp filter or the io_uring_disabled sysctl), ENOMEM...
  // `flags` are extra IORING_SETUP_* flags.
  int Open(unsigned entries, unsigned flags = 0) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    // Room for many completions at once (a manager server sleeps on one word
    // per client); more still would wait in the kernel's overflow list.
    p.flags = IORING_SETUP_CQSIZE | flags;
    p.cq_entries = entries * 8;
    int fd = static_cast<int>(syscall(__NR_io_uring_setup, entries, &p));
    if (fd < 0) return -errno;
    fd_ = fd;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) return Fail(-ENOSYS);
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    ring_size_ = sq_size > cq_size ? sq_size : cq_size;
    void* ring = mmap(nullptr, ring_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (ring == MAP_FAILED) return Fail(-errno);
    ring_ = static_cast<char*>(ring);
    sqes_size_ = p.sq_entries * sizeof(struct io_uring_sqe);
    void* sqes = mmap(nullptr, sqes_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) return Fail(-errno);
    sqes_ = static_cast<struct io_uring_sqe*>(sqes);
    sq_tail_ = reinterpret_cast<unsigned*>(ring_ + p.sq_off.tail);
    sq_flags_ = reinterpret_cast<unsigned*>(ring_ + p.sq_off.flags);
    sq_mask_ = *reinterpret_cast<unsigned*>(ring_ + p.sq_off.ring_mask);
    sq_array_ = reinterpret_cast<unsigned*>(ring_ + p.sq_off.array);
    cq_head_ = reinterpret_cast<unsigned*>(ring_ + p.cq_off.head);
    cq_tail_ = reinterpret_cast<unsigned*>(ring_ + p.cq_off.tail);
    cq_mask_ = *reinterpret_cast<unsigned*>(ring_ + p.cq_off.ring_mask);
    cqes_ = reinterpret_cast<struct io_uring_cqe*>(ring_ + p.cq_off.cqes);
    sq_entries_ = p.sq_entries;
    cq_entries_ = p.cq_entries;
    return 0;
  }

  int fd() const { return fd_; }
  // Completions waiting to be reaped.
  unsigned Ready() const { return __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE) - *cq_head_; }
  unsigned sq_entries() const { return sq_entries_; }
  unsigned cq_entries() const { return cq_entries_; }
  // Entries prepared and not yet handed to the kernel.
  unsigned pending() const { return pending_; }
  // Free submission entries: Prepare() may be called this many times more
  // before a Submit.
  unsigned Space() const { return sq_entries_ - pending_; }
  // The index of the entry Prepare() returned last (for per-entry side data).
  unsigned LastIndex() const { return (*sq_tail_ + pending_ - 1) & sq_mask_; }

  // Whether the kernel knows `op` (IORING_REGISTER_PROBE, Linux 5.6+).
  bool Supports(uint8_t op) {
    constexpr unsigned kOps = 256;
    char mem[sizeof(struct io_uring_probe) + kOps * sizeof(struct io_uring_probe_op)];
    memset(mem, 0, sizeof(mem));
    struct io_uring_probe* probe = reinterpret_cast<struct io_uring_probe*>(mem);
    if (syscall(__NR_io_uring_register, fd_, IORING_REGISTER_PROBE, probe, kOps) < 0) return false;
    return op <= probe->last_op && (probe->ops[op].flags & IO_URING_OP_SUPPORTED);
  }

  // A table of `count` empty slots for registered files (IORING_REGISTER_FILES2
  // with IORING_RSRC_REGISTER_SPARSE, Linux 5.19): an accept with
  // IORING_FILE_INDEX_ALLOC puts its socket in a free slot instead of the fd
  // table, and operations naming the slot (IOSQE_FIXED_FILE) skip the
  // per-operation fd look-up and reference count. 0 or -errno (EMFILE: more
  // slots than RLIMIT_NOFILE allows; EINVAL: a kernel without sparse tables).
  int RegisterFiles(unsigned count) {
    struct io_uring_rsrc_register reg;
    memset(&reg, 0, sizeof(reg));
    reg.nr = count;
    reg.flags = IORING_RSRC_REGISTER_SPARSE;
    if (syscall(__NR_io_uring_register, fd_, IORING_REGISTER_FILES2, &reg, sizeof(reg)) < 0) return -errno;
    return 0;
  }

  // Registers `count` open fds as the table of registered files
  // (IORING_REGISTER_FILES, 5.1): slot i is fds[i]. The table holds its own
  // reference to each file until the ring closes. 0 or -errno.
  int RegisterFiles(const int* fds, unsigned count) {
    if (syscall(__NR_io_uring_register, fd_, IORING_REGISTER_FILES, fds, count) < 0) return -errno;
    return 0;
  }

  // The next free submission entry, zeroed. Every Prepare is followed by
  // Submit before the next Prepare: the ring never holds more than one batch.
  struct io_uring_sqe* Prepare() {
    unsigned tail = *sq_tail_ + pending_;
    unsigned index = tail & sq_mask_;
    struct io_uring_sqe* sqe = &sqes_[index];
    memset(sqe, 0, sizeof(*sqe));
    sq_array_[index] = index;
    pending_++;
    return sqe;
  }

  // Hands the prepared entries to the kernel: how many it took, or -errno.
  // Entries it did not take are taken back (the kernel reads the queue only
  // inside io_uring_enter, and only this thread submits), so they never go
  // in later behind the caller's back.
  //
  // With `keep` the entries not taken stay prepared instead, for the next
  // Submit (IoUring's callers retry after reaping: -EBUSY means the
  // completion queue is full).
  int Submit(bool keep = false) { return Enter(0, 0, -1, keep); }

  // Submits the prepared entries and, with min_complete > 0, blocks until that
  // many completions are ready or `timeout` seconds pass (negative: no limit;
  // IORING_ENTER_EXT_ARG, Linux 5.11+): entries taken, -ETIME on time-out, or
  // -errno. EINTR is retried with the time that remains (PEP 475).
  int Enter(unsigned min_complete, unsigned flags, double timeout, bool keep) {
    unsigned count = pending_;
    unsigned tail = *sq_tail_;
    __atomic_store_n(sq_tail_, tail + count, __ATOMIC_RELEASE);
    pending_ = 0;
    struct __kernel_timespec ts;
    struct io_uring_getevents_arg arg;
    memset(&arg, 0, sizeof(arg));
    if (min_complete > 0) flags |= IORING_ENTER_GETEVENTS;
    bool timed = min_complete > 0 && timeout >= 0;
    double deadline = timed ? Monotonic() + timeout : 0;
    if (timed) flags |= IORING_ENTER_EXT_ARG;
    long n;
    unsigned taken = 0;
    for (;;) {
      void* argp = nullptr;
      size_t argsz = 0;
      if (timed) {
        double left = deadline - Monotonic();
        if (left < 0) left = 0;
        ts.tv_sec = static_cast<int64_t>(left);
        ts.tv_nsec = static_cast<long long>((left - ts.tv_sec) * 1e9);
        arg.ts = reinterpret_cast<uint64_t>(&ts);
        argp = &arg;
        argsz = sizeof(arg);
      }
      n = syscall(__NR_io_uring_enter, fd_, count - taken, min_complete, flags, argp, argsz);
      if (n >= 0) taken += static_cast<unsigned>(n);
      if (n >= 0 || errno != EINTR) break;
    }
    // The kernel reports a failed wait only when it took nothing.
    int result = n < 0 ? -errno : static_cast<int>(taken);
    if (taken < count) {
      __atomic_store_n(sq_tail_, tail + taken, __ATOMIC_RELEASE);
      if (keep) pending_ = count - taken;
    }
    return result;
  }

  // Blocks until `count` completions are ready (for a probe at start-up).
  int WaitFor(unsigned count) {
    for (;;) {
      long n = syscall(__NR_io_uring_enter, fd_, 0, count, IORING_ENTER_GETEVENTS, nullptr, 0);
      if (n >= 0) return 0;
      if (errno != EINTR) return -errno;
    }
  }

  // Calls fn(user_data, res) for every completion ready, and frees their slots.
  template <typename F>
  void Reap(F fn) {
    ReapUpTo(~0u, [&fn](uint64_t data, int32_t res, uint32_t) { fn(data, res); });
  }

  // Calls fn(user_data, res, flags) for at most `limit` completions ready, and
  // frees their slots: how many it took.
  template <typename F>
  unsigned ReapUpTo(unsigned limit, F fn) {
    unsigned head = *cq_head_;
    unsigned done = 0;
    for (;;) {
      unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
      while (head != tail) {
        if (done == limit) return done;
        const struct io_uring_cqe& cqe = cqes_[head & cq_mask_];
        uint64_t data = cqe.user_data;
        int32_t res = cqe.res;
        uint32_t flags = cqe.flags;
        head++;
        done++;
        // Release the slot before the callback: it may submit again.
        __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
        fn(data, res, flags);
        tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
      }
      // Completions the CQ had no room for wait in the kernel until a
      // GETEVENTS enter flushes them into the ring.
      if (!(__atomic_load_n(sq_flags_, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW)) return done;
      syscall(__NR_io_uring_enter, fd_, 0, 0, IORING_ENTER_GETEVENTS, nullptr, 0);
    }
  }

  // Closing the fd cancels every operation still in flight.
  void Close() {
    if (sqes_) munmap(sqes_, sqes_size_);
    if (ring_) munmap(ring_, ring_size_);
    if (fd_ >= 0) close(fd_);
    sqes_ = nullptr;
    ring_ = nullptr;
    fd_ = -1;
  }

 private:
  static double Monotonic() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
  }

  int Fail(int err) {
    Close();
    return err;
  }

  int fd_ = -1;
  char* ring_ = nullptr;
  size_t ring_size_ = 0;
  struct io_uring_sqe* sqes_ = nullptr;
  size_t sqes_size_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned* sq_flags_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  struct io_uring_cqe* cqes_ = nullptr;
  unsigned pending_ = 0;
  unsigned sq_entries_ = 0;
  unsigned cq_entries_ = 0;
};

// A ring of provided buffers (IORING_REGISTER_PBUF_RING, Linux 5.19): the
// kernel picks a free buffer when data arrives instead of the caller
// dedicating one to every pending receive, so 10,000 idle connections with a
// multishot recv each hold no memory. The buffers are `count` slices of
// `size` bytes of caller memory; a completion names its slice in the top 16
// bits of its flags, and Give() hands a slice back once it has been used.
class BufRing {
 public:
  BufRing() = default;
  BufRing(const BufRing&) = delete;
  BufRing& operator=(const BufRing&) = delete;
  ~BufRing() { Unregister(); }

  // `count` must be a power of two (at most 32768). 0 or -errno.
  int Register(int ring_fd, uint16_t group, char* base, unsigned size, unsigned count) {
    size_t bytes = count * sizeof(struct io_uring_buf);
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return -errno;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = reinterpret_cast<uint64_t>(mem);
    reg.ring_entries = count;
    reg.bgid = group;
    if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
      int err = -errno;
      munmap(mem, bytes);
      return err;
    }
    ring_fd_ = ring_fd;
    group_ = group;
    bufs_ = static_cast<struct io_uring_buf*>(mem);
    bytes_ = bytes;
    mask_ = count - 1;
    base_ = base;
    size_ = size;
    tail_ = 0;
    for (unsigned i = 0; i < count; i++) Add(static_cast<uint16_t>(i));
    Publish();
    return 0;
  }

  // Queues slice `id` to be handed back; Publish() makes the queued ones visible.
  void Add(uint16_t id) {
    struct io_uring_buf* b = &bufs_[tail_ & mask_];
    b->addr = reinterpret_cast<uint64_t>(base_ + static_cast<size_t>(id) * size_);
    b->len = size_;
    b->bid = id;
    tail_++;
  }
  // The tail shares its slot with the first entry's `resv` field (the ABI's
  // union): a release store, so the kernel sees the entries before the tail.
  void Publish() {
    __atomic_store_n(&bufs_[0].resv, tail_, __ATOMIC_RELEASE);
  }

  // Before the ring is closed (the kernel drops it with the ring anyway).
  void Unregister() {
    if (!bufs_) return;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof(reg));
    reg.bgid = group_;
    if (ring_fd_ >= 0) syscall(__NR_io_uring_register, ring_fd_, IORING_UNREGISTER_PBUF_RING, &reg, 1);
    munmap(bufs_, bytes_);
    bufs_ = nullptr;
  }

  bool registered() const { return bufs_ != nullptr; }
  // The memory of slice `id`.
  char* slice(uint16_t id) const { return base_ + static_cast<size_t>(id) * size_; }
  uint16_t group() const { return group_; }
  unsigned size() const { return size_; }
  unsigned count() const { return mask_ + 1; }

 private:
  int ring_fd_ = -1;
  uint16_t group_ = 0;
  struct io_uring_buf* bufs_ = nullptr;
  size_t bytes_ = 0;
  unsigned mask_ = 0;
  char* base_ = nullptr;
  unsigned size_ = 0;
  uint16_t tail_ = 0;
};

}  // namespace weft
