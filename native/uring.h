// A minimal io_uring: setup, one submission at a time, reaping completions.
// weft speaks the three system calls directly instead of linking liburing: it
// needs a handful of operations, the kernel's ABI for them is stable, and a
// library would be one more thing a machine without a compiler cannot build
// (prebuilds link nothing beyond libc).
//
// Used by futex.cc to sleep on a futex word without a helper thread: the
// kernel completes an IORING_OP_FUTEX_WAIT (Linux 6.7+) on the very thread
// that submitted it, and the ring's fd, polled by the event loop, wakes that
// thread once -- as a blocked read() wakes a Python process.
#pragma once
#include <linux/io_uring.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <errno.h>
#include <string.h>

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
  int Open(unsigned entries) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    // Room for many completions at once (a manager server sleeps on one word
    // per client); more still would wait in the kernel's overflow list.
    p.flags = IORING_SETUP_CQSIZE;
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
    return 0;
  }

  int fd() const { return fd_; }

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
  int Submit() {
    unsigned count = pending_;
    unsigned tail = *sq_tail_;
    __atomic_store_n(sq_tail_, tail + count, __ATOMIC_RELEASE);
    pending_ = 0;
    long n;
    do n = syscall(__NR_io_uring_enter, fd_, count, 0, 0, nullptr, 0);
    while (n < 0 && errno == EINTR);
    int result = n < 0 ? -errno : static_cast<int>(n);
    unsigned taken = n < 0 ? 0 : static_cast<unsigned>(n);
    if (taken < count) __atomic_store_n(sq_tail_, tail + taken, __ATOMIC_RELEASE);
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
    unsigned head = *cq_head_;
    for (;;) {
      unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
      while (head != tail) {
        const struct io_uring_cqe& cqe = cqes_[head & cq_mask_];
        uint64_t data = cqe.user_data;
        int32_t res = cqe.res;
        head++;
        // Release the slot before the callback: it may submit again.
        __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
        fn(data, res);
        tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
      }
      // Completions the CQ had no room for wait in the kernel until a
      // GETEVENTS enter flushes them into the ring.
      if (!(__atomic_load_n(sq_flags_, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW)) return;
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
};

}  // namespace weft
