/* krsie-bench-open: times one system call pattern in a loop (static; guest and host).
 *
 *   krsie-bench-open [--op open|exec|connect] [--cgroup DIR] [--landlock ALLOWED_DIR]
 *                    [--iters N] [--warmup N] TARGET
 *
 * --op open      (default) open(TARGET, O_RDONLY)+close()
 * --op exec      vfork()+execve(TARGET)+waitpid(): TARGET is a tiny static binary that exits 0
 *                (krsie-bench-true); a failed execve reports its errno
 * --op connect   socket(AF_INET, SOCK_STREAM)+connect(127.0.0.1:TARGET)+close(): TARGET is a
 *                port; a closed port gives ECONNREFUSED (the expected "allowed" outcome)
 * --cgroup DIR        move this process into the cgroup v2 directory DIR first
 * --landlock DIR      restrict this process with Landlock: the ruleset handles reading files and
 *                     allows it only beneath DIR (written with raw syscalls: no liblandlock)
 * Prints one line:  ops=N ns=TOTAL ns_per_op=X result=ok|ERRNO_NAME
 * The result is the outcome of the first timed op (every iteration must give the same one).
 * Under qemu -icount shift=0 the guest clock advances 1 ns per instruction: ns = instructions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

/* include/uapi/linux/landlock.h (ABI v1, enough for reading files). */
struct ll_ruleset_attr {
  uint64_t handled_access_fs;
};
struct ll_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));
#define LL_RULE_PATH_BENEATH 1
#define LL_ACCESS_FS_READ_FILE (1ULL << 2)

static int die(const char* what) {
  fprintf(stderr, "krsie-bench-open: %s: %s\n", what, strerror(errno));
  return 2;
}

static int join_cgroup(const char* dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  int ok = write(fd, pid, (size_t)len) == len;
  close(fd);
  return ok ? 0 : -1;
}

static int landlock(const char* allowed_dir) {
  struct ll_ruleset_attr attr = {.handled_access_fs = LL_ACCESS_FS_READ_FILE};
  int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (ruleset < 0) return -1;
  struct ll_path_beneath_attr rule = {.allowed_access = LL_ACCESS_FS_READ_FILE};
  rule.parent_fd = open(allowed_dir, O_PATH | O_CLOEXEC);
  if (rule.parent_fd < 0) return -1;
  if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0) != 0) return -1;
  close(rule.parent_fd);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) return -1;
  close(ruleset);
  return 0;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

enum op_kind { OP_OPEN, OP_EXEC, OP_CONNECT };

/* One open+close; returns 0 or the errno of the failed open. */
static inline int op_open(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

/* One vfork+execve+wait; returns 0, the errno of a failed execve, or -1 for a bad exit. */
static int op_exec(const char* path) {
  static char* const no_env[] = {NULL};
  char* argv[] = {(char*)path, NULL};
  volatile int exec_errno = 0; /* vfork: the child shares this memory until it execs or exits */
  pid_t pid = vfork();
  if (pid < 0) return errno;
  if (pid == 0) {
    execve(path, argv, no_env);
    exec_errno = errno;
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return errno;
  if (exec_errno) return exec_errno;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* One socket+connect+close to 127.0.0.1:port; returns 0 or the errno of socket/connect. */
static int op_connect(const struct sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int rc = connect(fd, (const struct sockaddr*)addr, sizeof *addr) == 0 ? 0 : errno;
  close(fd);
  return rc;
}

static enum op_kind kind;
static struct sockaddr_in loopback;

static int op(const char* target) {
  switch (kind) {
    case OP_EXEC: return op_exec(target);
    case OP_CONNECT: return op_connect(&loopback);
    default: return op_open(target);
  }
}

static const char* result_name(int err) {
  switch (err) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ECONNREFUSED: return "ECONNREFUSED";
    case -1: return "bad-exit";
    default: return strerror(err);
  }
}

int main(int argc, char** argv) {
  const char *cgroup = NULL, *allowed = NULL, *path = NULL;
  long iters = 2000, warmup = 200;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--op") && i + 1 < argc) {
      const char* name = argv[++i];
      if (!strcmp(name, "open")) kind = OP_OPEN;
      else if (!strcmp(name, "exec")) kind = OP_EXEC;
      else if (!strcmp(name, "connect")) kind = OP_CONNECT;
      else {
        fprintf(stderr, "krsie-bench-open: unknown --op %s\n", name);
        return 2;
      }
    } else if (!strcmp(argv[i], "--cgroup") && i + 1 < argc) cgroup = argv[++i];
    else if (!strcmp(argv[i], "--landlock") && i + 1 < argc) allowed = argv[++i];
    else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atol(argv[++i]);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atol(argv[++i]);
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else {
      fprintf(stderr, "usage: krsie-bench-open [--op open|exec|connect] [--cgroup DIR] [--landlock DIR] [--iters N] [--warmup N] TARGET\n");
      return 2;
    }
  }
  if (!path || iters <= 0 || warmup < 0) {
    fprintf(stderr, "krsie-bench-open: TARGET missing or bad --iters/--warmup\n");
    return 2;
  }
  if (kind == OP_CONNECT) {
    loopback.sin_family = AF_INET;
    loopback.sin_port = htons((uint16_t)atoi(path));
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  if (cgroup && join_cgroup(cgroup) != 0) return die("joining the cgroup");
  if (allowed && landlock(allowed) != 0) return die("setting up Landlock");

  /* Warm-up: page cache, dentry cache, and TCG's translation cache (flushed by every attach). */
  for (long i = 0; i < warmup; i++) (void)op(path);
  int first = op(path);
  int mixed = 0;
  int64_t start = now_ns();
  for (long i = 0; i < iters; i++) mixed |= op(path) != first;
  int64_t total = now_ns() - start;
  if (mixed) {
    fprintf(stderr, "krsie-bench-open: the outcome for %s changed during the loop\n", path);
    return 3;
  }
  printf("ops=%ld ns=%lld ns_per_op=%.1f result=%s\n", iters, (long long)total, (double)total / (double)iters,
         result_name(first));
  return 0;
}
