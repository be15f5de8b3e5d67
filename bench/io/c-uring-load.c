#define _GNU_SOURCE
/* A lean closed-loop load generator for the echo benchmark, in C on io_uring:
 * CONNECTIONS connections, each with one SIZE-byte message in flight (depth 1),
 * as `weft load --depth 1` runs them, for less of the generator's own CPU.
 * It is there so that the server, not the generator, is the bottleneck: each
 * side of a loopback echo does the same TCP work per message, so whatever the
 * generator spends beyond that caps the messages/s of the fastest servers.
 *
 * What it leaves out, against weft load's io_uring engine (native/load.cc):
 * - no check of the echoed bytes (weft load compares every byte and sequence
 *   number); it counts bytes, and a message is SIZE bytes back on a connection;
 * - no completion per send: every send goes out of one constant buffer, so the
 *   kernel may finish it whenever it likes and posts nothing on success
 *   (IOSQE_CQE_SKIP_SUCCESS), which halves the completions per message;
 * - task work runs only inside io_uring_enter (DEFER_TASKRUN, SINGLE_ISSUER),
 *   one batch per wake-up.
 * Like weft load's engine: a multishot recv per connection into a ring of
 * provided buffers, the connections as registered files, and one
 * io_uring_enter per batch that submits the batch's sends and waits for the
 * next completions. Latency is from a message's send to the last byte of its
 * echo, in a histogram of 1 µs buckets up to 1 s.
 *
 * Built by bench/io/run.ts with `cc -O2`. Speaks the io_uring system calls
 * directly, as native/uring.h does (no liburing to install).
 * Usage: c-uring-load PORT CONNECTIONS SIZE WARMUP_S DURATION_S
 * Prints one JSON line: messagesPerSecond, cpuUsPerMessage, latencyUs {p50, p99}, errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TAG_SEND (1ull << 32) /* user_data: connection index | what failed */
#define HIST 1000000          /* latency buckets of 1 µs */

static int ring_fd;
static struct io_uring_sqe *sqes;
static unsigned *sq_tail, *sq_array, sq_mask, pending;
static unsigned *cq_head, *cq_tail, cq_mask, *sq_flags;
static struct io_uring_cqe *cqes;
static struct io_uring_buf *bufs;
static unsigned buf_mask;
static uint16_t buf_tail;
static char *buf_mem;
static unsigned buf_size;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, int err) {
  fprintf(stderr, "c-uring-load: %s: %s\n", what, strerror(err));
  exit(1);
}

static struct io_uring_sqe *prepare(void) {
  unsigned index = (*sq_tail + pending) & sq_mask;
  struct io_uring_sqe *sqe = &sqes[index];
  memset(sqe, 0, sizeof *sqe);
  sq_array[index] = index;
  pending++;
  return sqe;
}

/* Submits what is prepared and waits for one completion, or `seconds` (a
 * server that answers nothing must not hold the run past its end). */
static void enter(double seconds) {
  __atomic_store_n(sq_tail, *sq_tail + pending, __ATOMIC_RELEASE);
  unsigned count = pending;
  pending = 0;
  if (seconds < 0) seconds = 0;
  struct __kernel_timespec ts = {.tv_sec = (long long)seconds, .tv_nsec = (long long)((seconds - (long long)seconds) * 1e9)};
  struct io_uring_getevents_arg arg = {.ts = (uint64_t)(uintptr_t)&ts};
  /* Asking for more entries than the queue holds is harmless: after EINTR the kernel takes what is left. */
  while (syscall(__NR_io_uring_enter, ring_fd, count, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg,
                 sizeof arg) < 0) {
    if (errno == ETIME) return;
    if (errno != EINTR) die("io_uring_enter", errno);
  }
}

static void recv_multishot(unsigned conn) {
  struct io_uring_sqe *sqe = prepare();
  sqe->opcode = IORING_OP_RECV;
  sqe->fd = (int)conn; /* the slot of the registered-file table */
  sqe->flags = IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->ioprio = IORING_RECV_MULTISHOT;
  sqe->buf_group = 0;
  sqe->user_data = conn;
}

static void send_msg(unsigned conn, const char *msg, unsigned size) {
  struct io_uring_sqe *sqe = prepare();
  sqe->opcode = IORING_OP_SEND;
  sqe->fd = (int)conn;
  sqe->flags = IOSQE_FIXED_FILE | IOSQE_CQE_SKIP_SUCCESS;
  sqe->addr = (uint64_t)(uintptr_t)msg;
  sqe->len = size;
  sqe->msg_flags = MSG_WAITALL | MSG_NOSIGNAL;
  sqe->user_data = conn | TAG_SEND;
}

static void give_buffer(uint16_t id) {
  struct io_uring_buf *b = &bufs[buf_tail & buf_mask];
  b->addr = (uint64_t)(uintptr_t)(buf_mem + (size_t)id * buf_size);
  b->len = buf_size;
  b->bid = id;
  buf_tail++;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: c-uring-load PORT CONNECTIONS SIZE WARMUP_S DURATION_S\n");
    return 2;
  }
  int port = atoi(argv[1]);
  unsigned n = (unsigned)atoi(argv[2]), size = (unsigned)atoi(argv[3]);
  double warmup = atof(argv[4]), duration = atof(argv[5]);
  if (n < 1 || n > 16384 || size < 1 || size > 65536 || duration <= 0) {
    fprintf(stderr, "c-uring-load: CONNECTIONS 1-16384, SIZE 1-65536 and DURATION_S > 0\n");
    return 2;
  }

  int *fds = malloc(n * sizeof(int)), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (unsigned i = 0; i < n; i++) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a)) die("connect", errno);
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  /* Room for a batch of a recv re-arm and a send per connection. */
  unsigned entries = 64;
  while (entries < 2 * n) entries *= 2;
  struct io_uring_params p = {0};
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  p.cq_entries = entries * 2;
  ring_fd = (int)syscall(__NR_io_uring_setup, entries, &p);
  if (ring_fd < 0) die("io_uring_setup", errno);
  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  char *ring = mmap(NULL, sq_size > cq_size ? sq_size : cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    ring_fd, IORING_OFF_SQ_RING);
  sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
              ring_fd, IORING_OFF_SQES);
  if (ring == MAP_FAILED || sqes == MAP_FAILED) die("mmap", errno);
  sq_tail = (unsigned *)(ring + p.sq_off.tail);
  sq_flags = (unsigned *)(ring + p.sq_off.flags);
  sq_mask = *(unsigned *)(ring + p.sq_off.ring_mask);
  sq_array = (unsigned *)(ring + p.sq_off.array);
  cq_head = (unsigned *)(ring + p.cq_off.head);
  cq_tail = (unsigned *)(ring + p.cq_off.tail);
  cq_mask = *(unsigned *)(ring + p.cq_off.ring_mask);
  cqes = (struct io_uring_cqe *)(ring + p.cq_off.cqes);

  if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_FILES, fds, n) < 0) die("register files", errno);

  /* Two buffers a connection: at depth 1 each holds at most one message. */
  unsigned nbufs = 64;
  while (nbufs < 2 * n && nbufs < 32768) nbufs *= 2;
  buf_mask = nbufs - 1;
  buf_size = size < 2048 ? 2048 : size;
  buf_mem = malloc((size_t)nbufs * buf_size);
  bufs = mmap(NULL, nbufs * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!buf_mem || bufs == MAP_FAILED) die("buffers", ENOMEM);
  struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)bufs, .ring_entries = nbufs, .bgid = 0};
  if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) die("register buffers", errno);
  for (unsigned i = 0; i < nbufs; i++) give_buffer((uint16_t)i);
  __atomic_store_n(&bufs[0].resv, buf_tail, __ATOMIC_RELEASE);

  char *msg = malloc(size);
  for (unsigned i = 0; i < size; i++) msg[i] = (char)('a' + i % 26);
  unsigned *got = calloc(n, sizeof(unsigned));
  double *sent_at = calloc(n, sizeof(double));
  uint32_t *hist = calloc(HIST, sizeof(uint32_t));
  unsigned char *alive = malloc(n);
  memset(alive, 1, n);

  double start = now(), t_warm = start + warmup, t_end = t_warm + duration, cpu0 = 0, t0 = 0;
  int measuring = warmup <= 0;
  if (measuring) t0 = start, cpu0 = cpu();
  uint64_t messages = 0, errors = 0;
  for (unsigned i = 0; i < n; i++) {
    recv_multishot(i);
    sent_at[i] = start;
    send_msg(i, msg, size);
  }
  double t = start;
  while (t < t_end) {
    enter((measuring ? t_end : t_warm) - t);
    t = now();
    if (!measuring && t >= t_warm) measuring = 1, t0 = t, cpu0 = cpu(), messages = 0, memset(hist, 0, HIST * sizeof(uint32_t));
    unsigned head = *cq_head, tail = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE), given = 0;
    for (; head != tail; head++) {
      struct io_uring_cqe *c = &cqes[head & cq_mask];
      unsigned conn = (unsigned)(c->user_data & 0xffffffffu);
      if (c->user_data & TAG_SEND) { /* only failed sends post a completion */
        errors++;
        alive[conn] = 0;
        continue;
      }
      if (c->res > 0) {
        give_buffer((uint16_t)(c->flags >> IORING_CQE_BUFFER_SHIFT));
        given++;
        got[conn] += (unsigned)c->res;
        if (got[conn] >= size && alive[conn]) {
          got[conn] -= size;
          messages++;
          double us = (t - sent_at[conn]) * 1e6;
          hist[us < HIST - 1 ? (unsigned)us : HIST - 1]++;
          sent_at[conn] = t;
          send_msg(conn, msg, size);
        }
      }
      if (!(c->flags & IORING_CQE_F_MORE)) {
        /* Ended: out of buffers (re-arm), or EOF / an error (the connection is lost). */
        if (c->res == -ENOBUFS || c->res > 0) recv_multishot(conn);
        else if (alive[conn]) errors++, alive[conn] = 0;
      }
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
    if (given) __atomic_store_n(&bufs[0].resv, buf_tail, __ATOMIC_RELEASE);
    if (__atomic_load_n(sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW) errors++;
  }
  double elapsed = now() - t0, used = cpu() - cpu0;
  uint64_t seen = 0, p50 = HIST, p99 = HIST;
  for (unsigned i = 0; i < HIST && p99 == HIST; i++) {
    seen += hist[i];
    if (p50 == HIST && seen * 2 >= messages) p50 = i;
    if (seen * 100 >= messages * 99) p99 = i;
  }
  printf("{\"messagesPerSecond\":%.1f,\"cpuUsPerMessage\":%.3f,\"latencyUs\":{\"p50\":%llu,\"p99\":%llu},\"errors\":%llu}\n",
         messages / elapsed, messages ? used * 1e6 / messages : 0.0, (unsigned long long)p50, (unsigned long long)p99,
         (unsigned long long)errors);
  return 0;
}
