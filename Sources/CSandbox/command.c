// A standby launch's command, sent by the runner once a `warden run` claimed it. The receiving
// side runs in the sandbox child (a raw clone of a multithreaded process): raw calls only, and
// its memory comes from mmap, not malloc.
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

struct command_header {
    uint64_t len;
    uint32_t argc, envc;
};

// SEQPACKET keeps message boundaries: the body goes in pieces no larger than what the
// receiver asks for, so none is truncated.
enum { CHUNK = 32768, MAX_COMMAND = 64 << 20 };

int warden_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    if (nfds < 0 || nfds > 3) return -EINVAL;
    struct iovec iov = {(void *)buf, len};
    union { char buf[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
        msg.msg_control = u.buf;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    return (size_t)n == len ? 0 : -EMSGSIZE;
}

ssize_t warden_recv_with_fds(int sock, void *buf, size_t len, int *fds, int max_fds, int *nfds) {
    struct iovec iov = {buf, len};
    union { char buf[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } u;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    *nfds = 0;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int all[3];
        if (got > 3) got = 3;
        memcpy(all, CMSG_DATA(c), got * sizeof(int));
        for (int i = 0; i < got; i++) {
            if (*nfds < max_fds) fds[(*nfds)++] = all[i];
            else close(all[i]);
        }
    }
    // Descriptors beyond three were dropped by the kernel (MSG_CTRUNC): refuse the message.
    if (msg.msg_flags & MSG_CTRUNC) {
        for (int i = 0; i < *nfds; i++) close(fds[i]);
        *nfds = 0;
        return -EPROTO;
    }
    return n;
}

int warden_send_command(int sock, const char *blob, uint64_t len, uint32_t argc, uint32_t envc,
                        const int *fds, int nfds) {
    struct command_header h = {len, argc, envc};
    int rc = warden_send_with_fds(sock, &h, sizeof h, fds, nfds);
    if (rc < 0) return rc;
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
        ssize_t w = send(sock, blob + done, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        done += (uint64_t)w;
    }
    return 0;
}

// The next NUL-terminated string at *p within end, or NULL.
static char *take(char **p, char *end) {
    char *s = *p;
    char *nul = s < end ? memchr(s, 0, (size_t)(end - s)) : NULL;
    if (!nul) return NULL;
    *p = nul + 1;
    return s;
}

int warden_receive_command(int sock, const char **path, char *const **argv, char *const **envp) {
    struct command_header h;
    int fds[3] = {-1, -1, -1}, nfds = 0;
    ssize_t n = warden_recv_with_fds(sock, &h, sizeof h, fds, 3, &nfds);
    if (n < 0) return (int)n;
    if (n == 0) return -EPIPE;
    if (n != sizeof h || h.len == 0 || h.len > MAX_COMMAND || h.argc == 0 ||
        (uint64_t)h.argc + h.envc > h.len)
        return -EPROTO;
    size_t pointers = ((size_t)h.argc + h.envc + 2) * sizeof(char *);
    char *mem = mmap(NULL, pointers + h.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return -errno;
    char **ptrs = (char **)mem;
    char *body = mem + pointers, *end = body + h.len;
    for (uint64_t done = 0; done < h.len;) {
        ssize_t r = recv(sock, body + done, (size_t)(h.len - done), 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) return -EPIPE;
        done += (uint64_t)r;
    }
    char *p = body;
    const char *exe = take(&p, end);
    if (!exe || exe[0] != '/') return -EPROTO;
    for (uint32_t i = 0; i < h.argc + h.envc; i++) {
        // argv ends with NULL, and so does envp, which starts after it.
        char *s = take(&p, end);
        if (!s) return -EPROTO;
        ptrs[i < h.argc ? i : i + 1] = s;
    }
    ptrs[h.argc] = NULL;
    ptrs[h.argc + h.envc + 1] = NULL;
    for (int i = 0; i < nfds; i++) {
        if (fds[i] == i) {
            if (fcntl(i, F_SETFD, 0) < 0) return -errno;
        } else {
            if (dup2(fds[i], i) < 0) return -errno;
            close(fds[i]);
        }
    }
    *path = exe;
    *argv = ptrs;
    *envp = ptrs + h.argc + 1;
    return 0;
}

int warden_peer(int sock, pid_t *pid, uid_t *uid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
    *pid = cred.pid;
    *uid = cred.uid;
    return 0;
}

int warden_accept(int sock) {
    int fd;
    do { fd = accept4(sock, NULL, NULL, SOCK_CLOEXEC); } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int stop_pipe[2] = {-1, -1};

static void stop_requested(int sig) {
    char byte = (char)sig;
    if (stop_pipe[1] >= 0) (void)!write(stop_pipe[1], &byte, 1);
}

int warden_stop_signals(void) {
    if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stop_requested;
    sa.sa_flags = SA_RESTART;
    const int stopping[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof stopping / sizeof *stopping; i++) sigaction(stopping[i], &sa, NULL);
    return stop_pipe[0];
}

int warden_peer_pidfd(int sock) {
    int pidfd = -1;
    socklen_t len = sizeof pidfd;
    // SO_PEERPIDFD (Linux 6.5): the peer as it was at connect(), immune to pid reuse.
    if (getsockopt(sock, SOL_SOCKET, 77, &pidfd, &len) < 0) return -errno;
    return pidfd;
}

int warden_pidfd_alive(int pidfd) {
    // pidfd_send_signal(pidfd, 0): 0 while that very process exists.
    return syscall(424, pidfd, 0, NULL, 0) == 0 ? 1 : 0;
}
