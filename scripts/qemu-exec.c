/*
 * An LD_PRELOAD library for `npm run test:arm64` (scripts/test-arm64.mjs): it
 * runs an arm64 program that an emulated program starts under qemu-user too.
 *
 * Why: qemu-aarch64-static runs one arm64 program; when that program calls
 * execve on another arm64 file (weft starts its children from
 * process.execPath, the arm64 node), qemu hands the call to the kernel, which
 * cannot run it unless binfmt_misc has qemu registered (a root-only,
 * machine-wide setting that containers and CI runners rarely allow). This
 * library catches execve, execv, execvp and execvpe; when the file is an
 * aarch64 ELF it executes $WEFT_QEMU (qemu-aarch64-static) on it instead, with
 * the same sysroot (-L $QEMU_LD_PREFIX) and with this library preloaded again.
 * Built for both architectures (LD_PRELOAD names it through $PLATFORM), so a
 * host program started by an emulated one (/bin/sh) hands arm64 files on too.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*execve_fn)(const char *, char *const[], char *const[]);

extern char **environ;

static execve_fn real_execve;
static const char *qemu;
static const char *prefix;
static const char *preload;

/* Read once at load: after vfork only async-signal-safe work is allowed. */
__attribute__((constructor)) static void init(void) {
  real_execve = (execve_fn)dlsym(RTLD_NEXT, "execve");
  qemu = getenv("WEFT_QEMU");
  prefix = getenv("QEMU_LD_PREFIX");
  preload = getenv("LD_PRELOAD");
}

static int is_aarch64(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  Elf64_Ehdr header;
  ssize_t n = read(fd, &header, sizeof header);
  close(fd);
  return n == (ssize_t)sizeof header && memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 &&
         header.e_ident[EI_CLASS] == ELFCLASS64 && header.e_machine == EM_AARCH64;
}

int execve(const char *path, char *const argv[], char *const envp[]) {
  if (qemu == NULL || prefix == NULL || preload == NULL || !is_aarch64(path)) return real_execve(path, argv, envp);
  size_t argc = 0;
  while (argv[argc] != NULL) argc++;
  char preload_env[PATH_MAX + 16];
  char qemu_env[PATH_MAX + 16];
  snprintf(preload_env, sizeof preload_env, "LD_PRELOAD=%s", preload);
  snprintf(qemu_env, sizeof qemu_env, "WEFT_QEMU=%s", qemu);
  /* qemu -L prefix -E LD_PRELOAD=… -E WEFT_QEMU=… -0 argv[0] path argv[1…] NULL:
   * the child's own environment may have dropped them. */
  const char *fixed[] = {qemu, "-L", prefix, "-E", preload_env, "-E", qemu_env, "-0", argc > 0 ? argv[0] : path, path};
  size_t nfixed = sizeof fixed / sizeof fixed[0];
  char *args[nfixed + argc + 1];
  for (size_t i = 0; i < nfixed; i++) args[i] = (char *)fixed[i];
  for (size_t i = 1; i < argc; i++) args[nfixed + i - 1] = argv[i];
  args[nfixed + (argc > 0 ? argc - 1 : 0)] = NULL;
  return real_execve(qemu, args, envp);
}

int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

/* execvp's search of PATH, so that a bare name reaches the execve above. */
int execvpe(const char *file, char *const argv[], char *const envp[]) {
  if (strchr(file, '/') != NULL) return execve(file, argv, envp);
  const char *path = getenv("PATH");
  if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
  int saw_eacces = 0;
  for (const char *p = path;; p = strchr(p, ':') + 1) {
    size_t len = strchrnul(p, ':') - p;
    char candidate[PATH_MAX];
    if (len + strlen(file) + 2 <= sizeof candidate) {
      memcpy(candidate, len == 0 ? "." : p, len == 0 ? 1 : len);
      size_t at = len == 0 ? 1 : len;
      candidate[at] = '/';
      strcpy(candidate + at + 1, file);
      execve(candidate, argv, envp);
      if (errno == EACCES) saw_eacces = 1;
      else if (errno != ENOENT && errno != ENOTDIR) return -1;
    }
    if (p[len] == '\0') break;
  }
  errno = saw_eacces ? EACCES : ENOENT;
  return -1;
}

int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, environ); }
