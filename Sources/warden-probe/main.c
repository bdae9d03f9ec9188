/*
 * warden-probe: the attacker in Warden's escape tests.
 *
 * Each subcommand tries one thing and reports what the kernel did:
 *
 *   ok [DETAIL]            success, exit 0 (some subcommands print more lines after it)
 *   err STAGE ERRNAME      a syscall failed: STAGE names the call, ERRNAME its errno
 *                          (E<number> when the name is not in our table), exit 1
 *   (stderr message)       bad usage, exit 2
 *
 * Subcommands that are expected to be killed by a signal (int80, x32, bigfile) print
 * nothing before the dangerous call. stdout is unbuffered, so whatever was printed
 * before a kill is not lost.
 *
 * Run `warden-probe` without arguments for the list of subcommands.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>

extern char **environ;

/* The installed uapi headers are from Linux 6.1; define anything newer ourselves. */
#ifndef SYS_execveat
#define SYS_execveat 322
#endif
#ifndef SYS_userfaultfd
#define SYS_userfaultfd 323
#endif
#ifndef SYS_bpf
#define SYS_bpf 321
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef KEYCTL_GET_KEYRING_ID
#define KEYCTL_GET_KEYRING_ID 0
#endif
#ifndef KEY_SPEC_SESSION_KEYRING
#define KEY_SPEC_SESSION_KEYRING -3
#endif
#ifndef MAX_HANDLE_SZ
#define MAX_HANDLE_SZ 128
#endif
#ifndef PROBE_TIOCSTI
#define PROBE_TIOCSTI 0x5412UL
#endif
#ifndef PROBE_TIOCLINUX
#define PROBE_TIOCLINUX 0x541CUL
#endif
#ifndef X32_SYSCALL_BIT
#define X32_SYSCALL_BIT 0x40000000L
#endif

/* clone3's argument block, version 0 (64 bytes); declared here so old headers don't matter. */
struct probe_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* ------------------------------------------------------------------ output helpers */

static const struct { int num; const char *name; } errno_names[] = {
    {EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"}, {EINTR, "EINTR"},
    {EIO, "EIO"}, {ENXIO, "ENXIO"}, {E2BIG, "E2BIG"}, {ENOEXEC, "ENOEXEC"},
    {EBADF, "EBADF"}, {ECHILD, "ECHILD"}, {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"}, {EFAULT, "EFAULT"}, {ENOTBLK, "ENOTBLK"}, {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"}, {EXDEV, "EXDEV"}, {ENODEV, "ENODEV"}, {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"}, {EINVAL, "EINVAL"}, {ENFILE, "ENFILE"}, {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"}, {ETXTBSY, "ETXTBSY"}, {EFBIG, "EFBIG"}, {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"}, {EROFS, "EROFS"}, {EMLINK, "EMLINK"}, {EPIPE, "EPIPE"},
    {EDOM, "EDOM"}, {ERANGE, "ERANGE"}, {EDEADLK, "EDEADLK"},
    {ENAMETOOLONG, "ENAMETOOLONG"}, {ENOLCK, "ENOLCK"}, {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"}, {ELOOP, "ELOOP"}, {ENOMSG, "ENOMSG"},
    {ENODATA, "ENODATA"}, {ENOSTR, "ENOSTR"}, {ETIME, "ETIME"}, {ENOLINK, "ENOLINK"},
    {EPROTO, "EPROTO"}, {EOVERFLOW, "EOVERFLOW"}, {EBADFD, "EBADFD"},
    {EILSEQ, "EILSEQ"}, {EUSERS, "EUSERS"}, {ENOTSOCK, "ENOTSOCK"},
    {EDESTADDRREQ, "EDESTADDRREQ"}, {EMSGSIZE, "EMSGSIZE"}, {EPROTOTYPE, "EPROTOTYPE"},
    {ENOPROTOOPT, "ENOPROTOOPT"}, {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},
    /* EOPNOTSUPP == ENOTSUP on Linux; the first entry wins, so list it first. */
    {EOPNOTSUPP, "EOPNOTSUPP"}, {ENOTSUP, "ENOTSUP"},
    {EPFNOSUPPORT, "EPFNOSUPPORT"}, {EAFNOSUPPORT, "EAFNOSUPPORT"},
    {EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {ENETDOWN, "ENETDOWN"},
    {ENETUNREACH, "ENETUNREACH"}, {ENETRESET, "ENETRESET"}, {ECONNABORTED, "ECONNABORTED"},
    {ECONNRESET, "ECONNRESET"}, {ENOBUFS, "ENOBUFS"}, {EISCONN, "EISCONN"},
    {ENOTCONN, "ENOTCONN"}, {ESHUTDOWN, "ESHUTDOWN"}, {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNREFUSED, "ECONNREFUSED"}, {EHOSTDOWN, "EHOSTDOWN"},
    {EHOSTUNREACH, "EHOSTUNREACH"}, {EALREADY, "EALREADY"}, {EINPROGRESS, "EINPROGRESS"},
    {ESTALE, "ESTALE"}, {EDQUOT, "EDQUOT"}, {ECANCELED, "ECANCELED"},
    {ENOKEY, "ENOKEY"}, {EKEYEXPIRED, "EKEYEXPIRED"}, {EKEYREVOKED, "EKEYREVOKED"},
    {EKEYREJECTED, "EKEYREJECTED"}, {EOWNERDEAD, "EOWNERDEAD"},
    {ENOTRECOVERABLE, "ENOTRECOVERABLE"}, {ERFKILL, "ERFKILL"}, {EHWPOISON, "EHWPOISON"},
    {ENOMEDIUM, "ENOMEDIUM"}, {EMEDIUMTYPE, "EMEDIUMTYPE"}, {ENOTUNIQ, "ENOTUNIQ"},
    {EREMOTEIO, "EREMOTEIO"}, {ENOPKG, "ENOPKG"},
};

static const char *errname(int e, char *buf, size_t len) {
    for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
        if (errno_names[i].num == e) return errno_names[i].name;
    snprintf(buf, len, "E%d", e);
    return buf;
}

/* `err STAGE ERRNAME [EXTRA]`, exit 1. */
static _Noreturn void fail_e(const char *stage, int e, const char *extra) {
    char buf[32];
    const char *name = errname(e, buf, sizeof buf);
    if (extra) printf("err %s %s %s\n", stage, name, extra);
    else printf("err %s %s\n", stage, name);
    exit(1);
}

static _Noreturn void fail(const char *stage) { fail_e(stage, errno, NULL); }

static _Noreturn void usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("warden-probe: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* write(2) without stdio, for signal handlers and pre-kill messages. */
static void say_raw(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

/* ------------------------------------------------------------------ argument parsing */

static long parse_long(const char *what, const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || end == s || *end) usage("%s: not an integer: %s", what, s);
    return v;
}

static long parse_nonneg(const char *what, const char *s) {
    long v = parse_long(what, s);
    if (v < 0) usage("%s: must not be negative: %s", what, s);
    return v;
}

/* Byte counts accept a K/M/G suffix (powers of 1024). */
static unsigned long long parse_bytes(const char *what, const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || s[0] == '-') usage("%s: not a byte count: %s", what, s);
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: usage("%s: not a byte count: %s", what, s);
    }
    if (*end) usage("%s: not a byte count: %s", what, s);
    return v << shift;
}

static double parse_seconds(const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0) usage("SECONDS: not a duration: %s", s);
    return v;
}

static const struct { int num; const char *name; } signal_names[] = {
    {SIGHUP, "HUP"}, {SIGINT, "INT"}, {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"}, {SIGBUS, "BUS"}, {SIGFPE, "FPE"},
    {SIGKILL, "KILL"}, {SIGUSR1, "USR1"}, {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGTERM, "TERM"}, {SIGCHLD, "CHLD"},
    {SIGCONT, "CONT"}, {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"}, {SIGSYS, "SYS"},
    {SIGXFSZ, "XFSZ"}, {SIGXCPU, "XCPU"},
};

/* A signal as a number, NAME or SIGNAME. */
static int parse_signal(const char *s) {
    if (s[0] >= '0' && s[0] <= '9') return (int)parse_long("SIG", s);
    const char *n = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
        if (strcasecmp(n, signal_names[i].name) == 0) return signal_names[i].num;
    usage("unknown signal: %s", s);
}

static void sleep_seconds(double secs) {
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* ------------------------------------------------------------------ files */

static int p_write(int argc, char **argv) {
    const char *data = argc > 1 ? argv[1] : "probe\n";
    int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("open");
    size_t n = strlen(data);
    if (n > 0 && write(fd, data, n) < 0) fail("write");
    close(fd);
    printf("ok\n");
    return 0;
}

static int p_append(int argc, char **argv) {
    (void)argc;
    int fd = open(argv[0], O_WRONLY | O_APPEND);
    if (fd < 0) fail("open");
    if (write(fd, "probe\n", 6) < 0) fail("write");
    close(fd);
    printf("ok\n");
    return 0;
}

static int p_read(int argc, char **argv) {
    (void)argc;
    int fd = open(argv[0], O_RDONLY);
    if (fd < 0) fail("open");
    char buf[65536];
    long long total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("read");
        if (r == 0) break;
        total += r;
    }
    close(fd);
    printf("ok %lld\n", total);
    return 0;
}

static int p_truncate(int argc, char **argv) {
    (void)argc;
    if (truncate(argv[0], 0) < 0) fail("truncate");
    printf("ok\n");
    return 0;
}

static int p_open_trunc(int argc, char **argv) {
    (void)argc;
    int fd = open(argv[0], O_WRONLY | O_TRUNC);
    if (fd < 0) fail("open");
    close(fd);
    printf("ok\n");
    return 0;
}

static int p_mkdir(int argc, char **argv) {
    (void)argc;
    if (mkdir(argv[0], 0755) < 0) fail("mkdir");
    printf("ok\n");
    return 0;
}

static int p_unlink(int argc, char **argv) {
    (void)argc;
    if (unlink(argv[0]) < 0) fail("unlink");
    printf("ok\n");
    return 0;
}

static int p_rename(int argc, char **argv) {
    (void)argc;
    if (rename(argv[0], argv[1]) < 0) fail("rename");
    printf("ok\n");
    return 0;
}

static int p_link(int argc, char **argv) {
    (void)argc;
    if (link(argv[0], argv[1]) < 0) fail("link");
    printf("ok\n");
    return 0;
}

static int p_symlink(int argc, char **argv) {
    (void)argc;
    if (symlink(argv[0], argv[1]) < 0) fail("symlink");
    printf("ok\n");
    return 0;
}

// A FIFO or a setuid file in a view: the gate must refuse them, whatever the kernel allowed.
static int p_mkfifo(int argc, char **argv) {
    (void)argc;
    if (mknod(argv[0], S_IFIFO | 0644, 0) < 0) fail("mknod");
    printf("ok\n");
    return 0;
}

static int p_mmap_exec(int argc, char **argv) {
    (void)argc;
    int fd = open(argv[0], O_RDONLY);
    if (fd < 0) fail("open");
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) fail("mmap");
    munmap(p, 4096);
    close(fd);
    printf("ok\n");
    return 0;
}

/* ------------------------------------------------------------------ exec */

static int p_exec(int argc, char **argv) {
    (void)argc;
    execv(argv[0], argv); /* argv = {PATH, ARGS..., NULL} */
    fail("execve");
}

/* Build {"probe-memfd", ARGS..., NULL} for the memfd / execveat probes. */
static char **exec_argv(int argc, char **argv) {
    char **v = calloc((size_t)argc + 1, sizeof *v);
    if (!v) fail_e("malloc", ENOMEM, NULL);
    v[0] = "probe-memfd";
    for (int i = 1; i < argc; i++) v[i] = argv[i];
    return v;
}

/* memfd-exec SRC [ARGS...]: copy SRC into an anonymous memfd and execute that. */
static int p_memfd_exec(int argc, char **argv) {
    int mfd = (int)syscall(SYS_memfd_create, "probe", 0);
    if (mfd < 0) fail("memfd_create");
    int src = open(argv[0], O_RDONLY);
    if (src < 0) fail("open");
    char buf[65536];
    for (;;) {
        ssize_t r = read(src, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("read");
        if (r == 0) break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(mfd, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) fail("write");
            off += w;
        }
    }
    close(src);
    char **v = exec_argv(argc, argv);
    fexecve(mfd, v, environ);
    int e = errno;
    if (e == ENOSYS) {
        /* execveat unavailable (old kernel or filtered with ENOSYS): the /proc route. */
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
        execve(path, v, environ);
        e = errno;
    }
    fail_e("fexecve", e, NULL);
}

/* execveat-empty SRC [ARGS...]: execveat(fd, "", ..., AT_EMPTY_PATH) on an O_RDONLY fd. */
static int p_execveat_empty(int argc, char **argv) {
    int fd = open(argv[0], O_RDONLY);
    if (fd < 0) fail("open");
    char **v = exec_argv(argc, argv);
    syscall(SYS_execveat, fd, "", v, environ, AT_EMPTY_PATH);
    fail("execveat");
}

/* ------------------------------------------------------------------ processes */

static int p_ptrace(int argc, char **argv) {
    (void)argc;
    pid_t pid = (pid_t)parse_long("PID", argv[0]);
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0) fail("ptrace");
    int st;
    if (waitpid(pid, &st, __WALL) < 0) fail("waitpid");
    if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0) fail("ptrace_detach");
    printf("ok\n");
    return 0;
}

static void kill_and_reap(pid_t pid) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) {}
}

static int p_ptrace_child(int argc, char **argv) {
    (void)argc; (void)argv;
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) pause();
    }
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) < 0) {
        int e = errno;
        kill_and_reap(pid);
        fail_e("ptrace", e, NULL);
    }
    int st;
    if (waitpid(pid, &st, __WALL) < 0) {
        int e = errno;
        kill_and_reap(pid);
        fail_e("waitpid", e, NULL);
    }
    if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0) {
        int e = errno;
        kill_and_reap(pid);
        fail_e("ptrace_detach", e, NULL);
    }
    kill_and_reap(pid);
    printf("ok\n");
    return 0;
}

/* vm-read PID: 8 bytes at 0x400000. EFAULT means the permission check passed but the
 * address is unmapped in the target; it is reported as an error and tests interpret it. */
static int p_vm_read(int argc, char **argv) {
    (void)argc;
    pid_t pid = (pid_t)parse_long("PID", argv[0]);
    char buf[8];
    struct iovec local = {buf, sizeof buf};
    struct iovec remote = {(void *)0x400000, sizeof buf};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0) fail("process_vm_readv");
    printf("ok %zd\n", n);
    return 0;
}

static int p_kill(int argc, char **argv) {
    pid_t pid = (pid_t)parse_long("PID", argv[0]);
    int sig = argc > 1 ? parse_signal(argv[1]) : 0;
    if (kill(pid, sig) < 0) fail("kill");
    printf("ok\n");
    return 0;
}

/* Read a whole (small) file into a malloc'd buffer; stage "open"/"read" on failure. */
static char *slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open");
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) fail_e("malloc", ENOMEM, NULL);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (!buf) fail_e("malloc", ENOMEM, NULL);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) fail("read");
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int p_read_environ(int argc, char **argv) {
    (void)argc;
    char path[64];
    if (strcmp(argv[0], "self") == 0) snprintf(path, sizeof path, "/proc/self/environ");
    else snprintf(path, sizeof path, "/proc/%ld/environ", parse_long("PID", argv[0]));
    size_t n;
    char *buf = slurp(path, &n);
    printf("ok\n");
    for (size_t i = 0; i < n;) {
        size_t l = strnlen(buf + i, n - i);
        printf("%.*s\n", (int)l, buf + i);
        i += l + 1;
    }
    return 0;
}

/* syscall NR: the raw call with every argument 0; "ok RESULT" or `err syscall ERRNAME`. */
static int p_syscall(int argc, char **argv) {
    (void)argc;
    long rc = syscall(strtol(argv[0], NULL, 10), 0, 0, 0, 0, 0, 0);
    if (rc < 0) fail("syscall");
    printf("ok %ld\n", rc);
    return 0;
}

static int p_getpid(int argc, char **argv) {
    (void)argc; (void)argv;
    printf("ok %d %d\n", (int)getpid(), (int)getppid());
    return 0;
}

/* caps: the credential / confinement lines of /proc/self/status, verbatim ("Key:\tvalue"). */
static int p_caps(int argc, char **argv) {
    (void)argc; (void)argv;
    static const char *keys[] = {"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff",
                                 "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
                                 "Seccomp_filters"};
    size_t n;
    char *buf = slurp("/proc/self/status", &n);
    printf("ok\n");
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if ((size_t)(colon - line) == strlen(keys[i]) &&
                strncmp(line, keys[i], strlen(keys[i])) == 0)
                printf("%s\n", line);
    }
    return 0;
}

static int p_env(int argc, char **argv) {
    (void)argc; (void)argv;
    printf("ok\n");
    for (char **e = environ; *e; e++) printf("%s\n", *e);
    return 0;
}

static int p_fd(int argc, char **argv) {
    (void)argc;
    int fd = (int)parse_long("N", argv[0]);
    if (fcntl(fd, F_GETFD) < 0) fail("fcntl");
    printf("ok\n");
    return 0;
}

static int p_sleep(int argc, char **argv) {
    (void)argc;
    sleep_seconds(parse_seconds(argv[0]));
    printf("ok\n");
    return 0;
}

static void trap_handler(int sig) {
    const char *msg = sig == SIGTERM ? "got SIGTERM\n"
                    : sig == SIGINT  ? "got SIGINT\n"
                    : sig == SIGHUP  ? "got SIGHUP\n"
                                     : "got signal\n";
    say_raw(msg);
    _exit(42);
}

static int p_trap(int argc, char **argv) {
    (void)argc;
    double secs = parse_seconds(argv[0]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = trap_handler;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < 3; i++)
        if (sigaction(sigs[i], &sa, NULL) < 0) fail("sigaction");
    sleep_seconds(secs);
    printf("ok\n");
    return 0;
}

/* spawn-tree N SECONDS: N silent sleeping children (no PDEATHSIG: they must outlive a
 * parent that alone gets killed, so only a whole-tree kill removes them). */
static int p_spawn_tree(int argc, char **argv) {
    (void)argc;
    long n = parse_nonneg("N", argv[0]);
    double secs = parse_seconds(argv[1]);
    pid_t *pids = calloc((size_t)n + 1, sizeof *pids);
    if (!pids) fail_e("malloc", ENOMEM, NULL);
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) fail("fork");
        if (pid == 0) {
            sleep_seconds(secs);
            _exit(0);
        }
        pids[i] = pid;
    }
    printf("ok");
    for (long i = 0; i < n; i++) printf(" %d", (int)pids[i]);
    printf("\n");
    sleep_seconds(secs);
    for (long i = 0; i < n; i++)
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR) {}
    return 0;
}

/* daemonize PATH SECONDS: a double-forked, setsid'd, SIGHUP-ignoring grandchild with its
 * stdio on /dev/null writes PATH after SECONDS. Prints `ok GRANDCHILD_PID` at once. */
static int p_daemonize(int argc, char **argv) {
    (void)argc;
    const char *path = argv[0];
    double secs = parse_seconds(argv[1]);
    int pfd[2];
    if (pipe(pfd) < 0) fail("pipe");
    pid_t child = fork();
    if (child < 0) fail("fork");
    if (child == 0) {
        close(pfd[0]);
        pid_t gc = fork();
        if (gc < 0) _exit(1);
        if (gc > 0) {
            if (write(pfd[1], &gc, sizeof gc) != (ssize_t)sizeof gc) _exit(1);
            _exit(0);
        }
        close(pfd[1]);
        setsid();
        signal(SIGHUP, SIG_IGN);
        int null = open("/dev/null", O_RDWR);
        for (int fd = 0; fd <= 2; fd++) {
            if (null >= 0) dup2(null, fd);
            else close(fd);
        }
        if (null > 2) close(null);
        /* Drop every inherited descriptor so no pipe to the test harness stays open. */
        if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
            for (int fd = 3; fd < 1024; fd++) close(fd);
        sleep_seconds(secs);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            if (write(fd, "daemon\n", 7) < 0) {}
            close(fd);
        }
        _exit(0);
    }
    close(pfd[1]);
    pid_t gc = 0;
    ssize_t r;
    while ((r = read(pfd[0], &gc, sizeof gc)) < 0 && errno == EINTR) {}
    int st = 0;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
    if (r != (ssize_t)sizeof gc) fail_e("fork", EAGAIN, NULL); /* grandchild fork failed */
    printf("ok %d\n", (int)gc);
    return 0;
}

/* ------------------------------------------------------------------ namespaces & mounts */

static int p_mount(int argc, char **argv) {
    (void)argc;
    if (mount("none", argv[0], "tmpfs", 0, NULL) < 0) fail("mount");
    printf("ok\n");
    return 0;
}

static int p_userns_mount(int argc, char **argv) {
    (void)argc;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) fail("unshare");
    if (mount("none", argv[0], "tmpfs", 0, NULL) < 0) fail("mount");
    printf("ok\n");
    return 0;
}

static int p_chroot(int argc, char **argv) {
    (void)argc;
    if (chroot(argv[0]) < 0) fail("chroot");
    printf("ok\n");
    return 0;
}

static int p_unshare(int argc, char **argv) {
    (void)argc;
    static const struct { const char *name; int flag; } kinds[] = {
        {"user", CLONE_NEWUSER}, {"mount", CLONE_NEWNS}, {"net", CLONE_NEWNET},
        {"pid", CLONE_NEWPID},   {"ipc", CLONE_NEWIPC},  {"uts", CLONE_NEWUTS},
        {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(argv[0], kinds[i].name) != 0) continue;
        if (unshare(kinds[i].flag) < 0) fail("unshare");
        printf("ok\n");
        return 0;
    }
    usage("unshare: unknown namespace %s (user|mount|net|pid|ipc|uts|cgroup|time)", argv[0]);
}

static int p_setns_net(int argc, char **argv) {
    (void)argc; (void)argv;
    int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("open");
    if (setns(fd, CLONE_NEWNET) < 0) fail("setns");
    printf("ok\n");
    return 0;
}

static int p_clone3(int argc, char **argv) {
    (void)argc; (void)argv;
    struct probe_clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) fail("clone3");
    if (pid == 0) _exit(0);
    if (waitpid((pid_t)pid, NULL, 0) < 0) fail("waitpid");
    printf("ok\n");
    return 0;
}

static int p_clone_newuser(int argc, char **argv) {
    (void)argc; (void)argv;
    /* x86_64 raw clone: flags, stack, parent_tid, child_tid, tls. NULL stack = fork-like. */
    long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0);
    if (pid < 0) fail("clone");
    if (pid == 0) _exit(0);
    if (waitpid((pid_t)pid, NULL, 0) < 0) fail("waitpid");
    printf("ok\n");
    return 0;
}

static void *thread_main(void *arg) { return arg; }

static int p_clone_thread(int argc, char **argv) {
    (void)argc; (void)argv;
    pthread_t t;
    int e = pthread_create(&t, NULL, thread_main, NULL);
    if (e) fail_e("pthread_create", e, NULL);
    e = pthread_join(t, NULL);
    if (e) fail_e("pthread_join", e, NULL);
    printf("ok\n");
    return 0;
}

/* ------------------------------------------------------------------ kernel attack surface */

static int p_io_uring(int argc, char **argv) {
    (void)argc; (void)argv;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    long fd = syscall(SYS_io_uring_setup, 4, &params);
    if (fd < 0) fail("io_uring_setup");
    close((int)fd);
    printf("ok\n");
    return 0;
}

static int p_tiocsti(int argc, char **argv) {
    unsigned long cmd = PROBE_TIOCSTI;
    if (argc > 0) {
        if (strcmp(argv[0], "high") != 0) usage("tiocsti: expected `high` or nothing");
        cmd |= 1UL << 32; /* the kernel truncates cmd to 32 bits; a naive filter may not */
    }
    ioctl(0, TIOCSCTTY, 0); /* become our own controlling tty if we can; result ignored */
    char ch = 'x';
    if (syscall(SYS_ioctl, 0, cmd, &ch) < 0) fail("tiocsti");
    printf("ok\n");
    return 0;
}

static int p_tioclinux(int argc, char **argv) {
    (void)argc; (void)argv;
    char sub[1] = {6}; /* TIOCL_GETSHIFTSTATE: harmless */
    if (syscall(SYS_ioctl, 0, PROBE_TIOCLINUX, sub) < 0) fail("tioclinux");
    printf("ok\n");
    return 0;
}

/* int80: the i386 entry point (getpid = 20). A filter that only checks x86_64 syscall
 * numbers would let this through; Warden should kill us instead. */
static int p_int80(int argc, char **argv) {
    (void)argc; (void)argv;
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(20L)
                     : "memory", "cc", "r8", "r9", "r10", "r11");
    printf("ok %ld\n", ret);
    return 0;
}

static int p_x32(int argc, char **argv) {
    (void)argc; (void)argv;
    long ret = syscall(X32_SYSCALL_BIT | 39L); /* x32 getpid */
    if (ret < 0) fail("x32");
    printf("ok %ld\n", ret);
    return 0;
}

static int p_open_by_handle(int argc, char **argv) {
    (void)argc;
    struct file_handle *fh = malloc(sizeof *fh + MAX_HANDLE_SZ);
    if (!fh) fail_e("malloc", ENOMEM, NULL);
    fh->handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    if (name_to_handle_at(AT_FDCWD, argv[0], fh, &mount_id, 0) < 0) fail("name_to_handle_at");
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) fail("open");
    int fd = open_by_handle_at(root, fh, O_RDONLY);
    if (fd < 0) fail("open_by_handle_at");
    close(fd);
    printf("ok\n");
    return 0;
}

static int p_keyctl(int argc, char **argv) {
    (void)argc; (void)argv;
    long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1);
    if (id < 0) fail("keyctl");
    printf("ok %ld\n", id);
    return 0;
}

/* N denied calls in a row: the supervisor must record each and never stall the caller. */
static int p_flood(int argc, char **argv) {
    (void)argc;
    long n = atol(argv[0]), refused = 0;
    for (long i = 0; i < n; i++) {
        if (syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) < 0 && errno == EPERM) refused++;
    }
    printf("refused %ld of %ld\n", refused, n);
    return refused == n ? 0 : 1;
}

/* Hostile arguments for the supervisor: a pointer to nothing, a path with no NUL within
   PATH_MAX, a path that straddles the end of a mapping. The kernel answers each; the
   supervisor must neither crash nor record anything. */
static int p_hostile_paths(int argc, char **argv) {
    (void)argc; (void)argv;
    long a = syscall(SYS_openat, AT_FDCWD, (const char *)8, O_WRONLY | O_CREAT, 0644);
    int ea = errno;
    size_t big = 3 * 4096 * 2;
    char *buf = malloc(big);
    memset(buf, 'a', big);
    long b = syscall(SYS_openat, AT_FDCWD, buf, O_WRONLY | O_CREAT, 0644);
    int eb = errno;
    char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(page + 4096, 4096);
    memset(page, 'b', 4096);
    long c = syscall(SYS_openat, AT_FDCWD, page, O_WRONLY | O_CREAT, 0644);
    int ec = errno;
    char b1[16], b2[16], b3[16];
    printf("badptr %s longpath %s edge %s\n", a < 0 ? errname(ea, b1, sizeof b1) : "ok",
           b < 0 ? errname(eb, b2, sizeof b2) : "ok", c < 0 ? errname(ec, b3, sizeof b3) : "ok");
    return 0;
}

static int p_chmod(int argc, char **argv) {
    (void)argc;
    if (chmod(argv[0], (mode_t)strtol(argv[1], NULL, 8)) < 0) fail("chmod");
    printf("ok\n");
    return 0;
}

static int p_bpf(int argc, char **argv) {
    (void)argc; (void)argv;
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    if (fd < 0) fail("bpf");
    close((int)fd);
    printf("ok\n");
    return 0;
}

static int p_perf(int argc, char **argv) {
    (void)argc; (void)argv;
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    if (fd < 0) fail("perf_event_open");
    close((int)fd);
    printf("ok\n");
    return 0;
}

static int p_userfaultfd(int argc, char **argv) {
    (void)argc; (void)argv;
    long fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (fd < 0 && errno == EINVAL) fd = syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd < 0) fail("userfaultfd");
    close((int)fd);
    printf("ok\n");
    return 0;
}

static int set_persona_bit(unsigned long bit) {
    if (personality(bit) == -1) fail("personality");
    int now = personality(0xffffffff);
    if (now == -1) fail("personality");
    if (!((unsigned long)now & bit)) {
        printf("err personality unchanged 0x%x\n", now);
        return 1;
    }
    printf("ok 0x%x\n", now);
    return 0;
}

static int p_personality(int argc, char **argv) {
    (void)argc; (void)argv;
    return set_persona_bit(READ_IMPLIES_EXEC);
}

static int p_personality_aslr(int argc, char **argv) {
    (void)argc; (void)argv;
    return set_persona_bit(ADDR_NO_RANDOMIZE);
}

/* ------------------------------------------------------------------ network */

static void resolve_v4(const char *host, const char *port, struct sockaddr_in *sa) {
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    long p = parse_long("PORT", port);
    if (p < 0 || p > 65535) usage("PORT out of range: %s", port);
    sa->sin_port = htons((uint16_t)p);
    if (inet_pton(AF_INET, host, &sa->sin_addr) == 1) return;
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc == EAI_SYSTEM) fail("getaddrinfo");
    if (rc != 0) {
        const char *name = rc == EAI_NONAME ? "EAI_NONAME"
                         : rc == EAI_AGAIN  ? "EAI_AGAIN"
                         : rc == EAI_FAIL   ? "EAI_FAIL"
                         : rc == EAI_NODATA ? "EAI_NODATA"
                         : rc == EAI_MEMORY ? "EAI_MEMORY"
                                            : "EAI_OTHER";
        printf("err getaddrinfo %s\n", name);
        exit(1);
    }
    sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
}

static int p_tcp(int argc, char **argv) {
    (void)argc;
    struct sockaddr_in sa;
    resolve_v4(argv[0], argv[1], &sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) fail("connect");
    close(fd);
    printf("ok\n");
    return 0;
}

static int p_socket_inet(int argc, char **argv) {
    (void)argc; (void)argv;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    close(fd);
    printf("ok\n");
    return 0;
}

static int p_udp(int argc, char **argv) {
    (void)argc;
    struct sockaddr_in sa;
    resolve_v4(argv[0], argv[1], &sa);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    if (sendto(fd, "probe\n", 6, 0, (struct sockaddr *)&sa, sizeof sa) < 0) fail("sendto");
    close(fd);
    printf("ok\n");
    return 0;
}

/* Connects to the unix socket PATH, sends a standby request for a key nobody has and reports what came
 * back: "reply X" (the server read it and answered) or "eof" (it hung up unanswered). */
static int p_unix_request(int argc, char **argv) {
    (void)argc;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(argv[0]) + 1 > sizeof sa.sun_path) usage("unix-request PATH too long");
    strcpy(sa.sun_path, argv[0]);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) fail("connect");
    /* A well-formed request ("stop", key "x") that no standby's key matches. */
    unsigned char request[8 + 12] = {12, 0, 0, 0, 0, 0, 0, 0, 's', 't', 'o', 'p', 0, 'x', 0, 0, '0', 0, '0', 0};
    /* A server that hangs up unanswered may do so before the request is even written. */
    char reply;
    ssize_t n = send(fd, request, sizeof request, MSG_NOSIGNAL);
    if (n < 0 && errno != EPIPE && errno != ECONNRESET) fail("write");
    if (n >= 0) n = read(fd, &reply, 1);
    if (n < 0 && errno != EPIPE && errno != ECONNRESET) fail("read");
    if (n <= 0) printf("eof\n");
    else printf("reply %c\n", reply);
    return 0;
}

static socklen_t abstract_addr(const char *name, struct sockaddr_un *sa) {
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n + 1 > sizeof sa->sun_path) usage("abstract NAME too long");
    memcpy(sa->sun_path + 1, name, n); /* sun_path[0] = '\0': abstract namespace */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int p_abstract(int argc, char **argv) {
    (void)argc;
    struct sockaddr_un sa;
    socklen_t len = abstract_addr(argv[0], &sa);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    if (connect(fd, (struct sockaddr *)&sa, len) < 0) fail("connect");
    close(fd);
    printf("ok\n");
    return 0;
}

/* Shared tail of the listeners: wait up to SECONDS for one connection. */
static int accept_one(int fd, double secs) {
    struct pollfd p = {fd, POLLIN, 0};
    int rc;
    while ((rc = poll(&p, 1, (int)(secs * 1000))) < 0 && errno == EINTR) {}
    if (rc < 0) fail("poll");
    if (rc == 0) {
        printf("timeout\n");
        return 3;
    }
    int c = accept(fd, NULL, NULL);
    if (c < 0) fail("accept");
    close(c);
    printf("accepted\n");
    return 0;
}

static int p_abstract_listen(int argc, char **argv) {
    (void)argc;
    struct sockaddr_un sa;
    socklen_t len = abstract_addr(argv[0], &sa);
    double secs = parse_seconds(argv[1]);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) fail("bind");
    if (listen(fd, 8) < 0) fail("listen");
    printf("ok listening\n");
    return accept_one(fd, secs);
}

/* tcp-listen PORT SECONDS on 127.0.0.1. PORT 0 picks a free port and prints it:
 * `ok listening N`; a fixed port prints just `ok listening`. */
static int p_tcp_listen(int argc, char **argv) {
    (void)argc;
    struct sockaddr_in sa;
    resolve_v4("127.0.0.1", argv[0], &sa);
    double secs = parse_seconds(argv[1]);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) fail("bind");
    if (listen(fd, 8) < 0) fail("listen");
    if (sa.sin_port == 0) {
        socklen_t l = sizeof sa;
        if (getsockname(fd, (struct sockaddr *)&sa, &l) < 0) fail("getsockname");
        printf("ok listening %d\n", ntohs(sa.sin_port));
    } else {
        printf("ok listening\n");
    }
    return accept_one(fd, secs);
}

/* ------------------------------------------------------------------ exhaustion */

static int p_forkbomb(int argc, char **argv) {
    (void)argc;
    long max = parse_nonneg("MAX", argv[0]);
    pid_t *pids = calloc((size_t)max + 1, sizeof *pids);
    if (!pids) usage("forkbomb: MAX too large");
    pid_t parent = getpid();
    long n = 0;
    int e = 0;
    for (; n < max; n++) {
        pid_t pid = fork();
        if (pid < 0) {
            e = errno;
            break;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(0);
            for (;;) pause();
        }
        pids[n] = pid;
    }
    if (e) printf("err fork %s %ld\n", errname(e, (char[32]){0}, 32), n);
    else printf("ok %ld\n", n);
    for (long i = 0; i < n; i++) kill(pids[i], SIGKILL);
    for (long i = 0; i < n; i++)
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR) {}
    return e ? 1 : 0;
}

static int p_membomb(int argc, char **argv) {
    (void)argc;
    long mb = parse_nonneg("MB", argv[0]);
    for (long i = 0; i < mb; i++) {
        char *p = malloc(1 << 20);
        if (!p) {
            printf("err malloc ENOMEM %ld\n", i);
            return 1;
        }
        memset(p, 0xa5, 1 << 20);
    }
    printf("ok %ld\n", mb);
    return 0;
}

/* bigfile PATH BYTES: the default SIGXFSZ disposition usually kills us past RLIMIT_FSIZE. */
static int p_bigfile(int argc, char **argv) {
    (void)argc;
    unsigned long long want = parse_bytes("BYTES", argv[1]);
    int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("open");
    static char zeros[65536];
    unsigned long long done = 0;
    while (done < want) {
        size_t chunk = want - done < sizeof zeros ? (size_t)(want - done) : sizeof zeros;
        ssize_t w = write(fd, zeros, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            char n[32];
            snprintf(n, sizeof n, "%llu", done);
            fail_e("write", w < 0 ? errno : ENOSPC, n);
        }
        done += (unsigned long long)w;
    }
    close(fd);
    printf("ok\n");
    return 0;
}

/* ------------------------------------------------------------------ warden submit */

/* mmap-writer PATH BYTES SECONDS: in a new session, keeps rewriting PATH whole, each pass one
 * repeating byte ('a'..'z'), alternately through a shared mmap and through pwrite on the
 * held fd, for SECONDS. PATH appears (by rename) only once it holds its first full pass. */
static int p_mmap_writer(int argc, char **argv) {
    (void)argc;
    unsigned long long bytes = parse_bytes("BYTES", argv[1]);
    double seconds = parse_seconds(argv[2]);
    if (bytes == 0) { fprintf(stderr, "BYTES must be > 0\n"); return 2; }
    setsid();
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[0]);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("open");
    if (ftruncate(fd, (off_t)bytes) < 0) fail("ftruncate");
    unsigned char *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) fail("mmap");
    unsigned char *buf = malloc(bytes);
    if (!buf) fail("malloc");
    memset(map, 'a', bytes);
    if (rename(tmp, argv[0]) < 0) fail("rename");
    printf("ok\n");
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned long i = 1;; i++) {
        unsigned char c = (unsigned char)('a' + i % 26);
        if (i % 2) {
            memset(map, c, bytes);
        } else {
            memset(buf, c, bytes);
            if (pwrite(fd, buf, bytes, 0) != (ssize_t)bytes) fail("pwrite");
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 > seconds) break;
    }
    return 0;
}

/* vfork-wait SECONDS: a vfork child sleeps SECONDS while the parent waits in the kernel for
 * it. Stopped, the child leaves the parent in an uninterruptible wait that no SIGSTOP
 * ends: a process that cannot be frozen. Prints "ok" once the child has run. */
static int p_vfork_wait(int argc, char **argv) {
    (void)argc;
    double seconds = parse_seconds(argv[0]);
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    pid_t pid = vfork();
    if (pid < 0) fail("vfork");
    if (pid == 0) {
        syscall(SYS_nanosleep, &ts, NULL);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("ok\n");
    return 0;
}

/* control-line BYTES: one request of BYTES 'x' bytes and a newline on the control channel
 * (fd 3); prints the reply line. */
static int p_control_line(int argc, char **argv) {
    (void)argc;
    unsigned long long bytes = parse_bytes("BYTES", argv[0]);
    char *line = malloc(bytes + 1);
    if (!line) fail("malloc");
    memset(line, 'x', bytes);
    line[bytes] = '\n';
    for (unsigned long long done = 0; done < bytes + 1;) {
        ssize_t n = write(3, line + done, bytes + 1 - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("write");
        done += (unsigned long long)n;
    }
    char reply[65536];
    size_t got = 0;
    while (got < sizeof reply - 1) {
        ssize_t n = read(3, reply + got, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || reply[got] == '\n') break;
        got++;
    }
    reply[got] = 0;
    printf("ok %s\n", reply);
    return 0;
}

/* control-spam N: N garbage lines on fd 3 without ever reading a reply. */
static int p_control_spam(int argc, char **argv) {
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    long n = atol(argv[0]), sent = 0;
    for (; sent < n; sent++) {
        if (write(3, "junk\n", 5) != 5) break;
    }
    printf("ok %ld\n", sent);
    return 0;
}

/* ------------------------------------------------------------------ fd passing */

static int p_fds(int argc, char **argv) {
    (void)argc; (void)argv;
    DIR *d = opendir("/proc/self/fd");
    if (!d) fail("opendir");
    int self = dirfd(d);
    /* Collect, then sort: readdir order is not guaranteed numeric. */
    int fds[4096], n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < (int)(sizeof fds / sizeof fds[0])) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        int fd = atoi(de->d_name);
        if (fd != self) fds[n++] = fd;
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    printf("ok");
    for (int i = 0; i < n; i++) printf(" %d", fds[i]);
    printf("\n");
    return 0;
}

/* ------------------------------------------------------------------ dispatch */

struct probe {
    const char *name;
    int min_args, max_args; /* max -1: unbounded */
    int (*fn)(int argc, char **argv);
    const char *args;
};

static const struct probe probes[] = {
    {"write", 1, 2, p_write, "PATH [DATA]"},
    {"append", 1, 1, p_append, "PATH"},
    {"read", 1, 1, p_read, "PATH"},
    {"truncate", 1, 1, p_truncate, "PATH"},
    {"open-trunc", 1, 1, p_open_trunc, "PATH"},
    {"mkdir", 1, 1, p_mkdir, "PATH"},
    {"unlink", 1, 1, p_unlink, "PATH"},
    {"rename", 2, 2, p_rename, "FROM TO"},
    {"link", 2, 2, p_link, "TARGET NEWPATH"},
    {"symlink", 2, 2, p_symlink, "TARGET LINKPATH"},
    {"mkfifo", 1, 1, p_mkfifo, "PATH"},
    {"mmap-exec", 1, 1, p_mmap_exec, "PATH"},
    {"exec", 1, -1, p_exec, "PATH [ARGS...]"},
    {"memfd-exec", 1, -1, p_memfd_exec, "SRC [ARGS...]"},
    {"execveat-empty", 1, -1, p_execveat_empty, "SRC [ARGS...]"},
    {"ptrace", 1, 1, p_ptrace, "PID"},
    {"ptrace-child", 0, 0, p_ptrace_child, ""},
    {"vm-read", 1, 1, p_vm_read, "PID"},
    {"kill", 1, 2, p_kill, "PID [SIG]"},
    {"read-environ", 1, 1, p_read_environ, "PID|self"},
    {"getpid", 0, 0, p_getpid, ""},
    {"syscall", 1, 1, p_syscall, "NR"},
    {"caps", 0, 0, p_caps, ""},
    {"env", 0, 0, p_env, ""},
    {"fd", 1, 1, p_fd, "N"},
    {"sleep", 1, 1, p_sleep, "SECONDS"},
    {"trap", 1, 1, p_trap, "SECONDS"},
    {"spawn-tree", 2, 2, p_spawn_tree, "N SECONDS"},
    {"daemonize", 2, 2, p_daemonize, "PATH SECONDS"},
    {"mount", 1, 1, p_mount, "DIR"},
    {"userns-mount", 1, 1, p_userns_mount, "DIR"},
    {"chroot", 1, 1, p_chroot, "DIR"},
    {"unshare", 1, 1, p_unshare, "user|mount|net|pid|ipc|uts|cgroup|time"},
    {"setns-net", 0, 0, p_setns_net, ""},
    {"clone3", 0, 0, p_clone3, ""},
    {"clone-newuser", 0, 0, p_clone_newuser, ""},
    {"clone-thread", 0, 0, p_clone_thread, ""},
    {"io-uring", 0, 0, p_io_uring, ""},
    {"tiocsti", 0, 1, p_tiocsti, "[high]"},
    {"tioclinux", 0, 0, p_tioclinux, ""},
    {"int80", 0, 0, p_int80, ""},
    {"x32", 0, 0, p_x32, ""},
    {"open-by-handle", 1, 1, p_open_by_handle, "PATH"},
    {"keyctl", 0, 0, p_keyctl, ""},
    {"flood", 1, 1, p_flood, "N"},
    {"hostile-paths", 0, 0, p_hostile_paths, ""},
    {"chmod", 2, 2, p_chmod, "PATH OCTAL-MODE"},
    {"bpf", 0, 0, p_bpf, ""},
    {"perf", 0, 0, p_perf, ""},
    {"userfaultfd", 0, 0, p_userfaultfd, ""},
    {"personality", 0, 0, p_personality, ""},
    {"personality-aslr", 0, 0, p_personality_aslr, ""},
    {"tcp", 2, 2, p_tcp, "HOST PORT"},
    {"socket-inet", 0, 0, p_socket_inet, ""},
    {"udp", 2, 2, p_udp, "HOST PORT"},
    {"abstract", 1, 1, p_abstract, "NAME"},
    {"unix-request", 1, 1, p_unix_request, "PATH"},
    {"abstract-listen", 2, 2, p_abstract_listen, "NAME SECONDS"},
    {"tcp-listen", 2, 2, p_tcp_listen, "PORT SECONDS"},
    {"forkbomb", 1, 1, p_forkbomb, "MAX"},
    {"membomb", 1, 1, p_membomb, "MB"},
    {"bigfile", 2, 2, p_bigfile, "PATH BYTES"},
    {"fds", 0, 0, p_fds, ""},
    {"mmap-writer", 3, 3, p_mmap_writer, "PATH BYTES SECONDS"},
    {"control-line", 1, 1, p_control_line, "BYTES"},
    {"control-spam", 1, 1, p_control_spam, "N"},
    {"vfork-wait", 1, 1, p_vfork_wait, "SECONDS"},
};

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fputs("usage: warden-probe SUBCOMMAND [ARGS...]\nsubcommands:\n", stderr);
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
            fprintf(stderr, "  %s %s\n", probes[i].name, probes[i].args);
        return 2;
    }
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        const struct probe *p = &probes[i];
        if (strcmp(argv[1], p->name) != 0) continue;
        int n = argc - 2;
        if (n < p->min_args || (p->max_args >= 0 && n > p->max_args))
            usage("usage: warden-probe %s %s", p->name, p->args);
        return p->fn(n, argv + 2);
    }
    usage("unknown subcommand: %s (run without arguments for the list)", argv[1]);
}
