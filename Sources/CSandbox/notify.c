// The runner's side of seccomp user notification: receiving a notification, reading a
// string out of the caller's memory, answering. Thin wrappers, so that the Swift supervisor
// never handles kernel structures whose layout it would have to mirror.
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

int warden_notify_sync_wakeup(int fd) {
    // Kernel 6.6+: the supervisor is woken on the caller's CPU, so that each intercepted call
    // costs a direct switch instead of a scheduler round trip.
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0) < 0 ? -errno : 0;
}

int warden_notify_recv(int fd, struct warden_notification *out) {
    struct seccomp_notif req;
    memset(&req, 0, sizeof req); // the kernel refuses a request buffer that is not zeroed
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return -errno;
    out->id = req.id;
    out->pid = req.pid;
    out->nr = req.data.nr;
    out->arch = req.data.arch;
    for (int i = 0; i < 6; i++) out->args[i] = req.data.args[i];
    return 0;
}

int warden_notify_respond(int fd, uint64_t id, int error, int allow) {
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = id;
    if (allow) {
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    } else {
        resp.error = -error;
    }
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 ? -errno : 0;
}

int warden_notify_id_valid(int fd, uint64_t id) {
    return ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0 ? -errno : 0;
}

ssize_t warden_read_string(pid_t pid, uint64_t addr, char *buf, size_t cap) {
    // Page by page: a string that ends just before an unmapped page is still readable, and a
    // read that crosses into one fails only for the bytes beyond.
    size_t done = 0;
    if (cap == 0) return -ENAMETOOLONG;
    while (done < cap) {
        uint64_t at = addr + done;
        size_t chunk = 4096 - (size_t)(at & 4095);
        if (chunk > cap - done) chunk = cap - done;
        struct iovec local = {buf + done, chunk};
        struct iovec remote = {(void *)(uintptr_t)at, chunk};
        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n <= 0) return n < 0 ? -errno : -EFAULT;
        void *nul = memchr(buf + done, 0, (size_t)n);
        if (nul) return (ssize_t)((char *)nul - buf);
        done += (size_t)n;
    }
    return -ENAMETOOLONG;
}

ssize_t warden_read_memory(pid_t pid, uint64_t addr, void *buf, size_t len) {
    struct iovec local = {buf, len};
    struct iovec remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    return n < 0 ? -errno : n;
}

int warden_send_fd(int sock, int fd) {
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // fd < 0: a message without one, which warden_recv_fd returns as -EPROTO.
    if (fd < 0) return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

// EPIPE: the other end died (or failed) before it could send.
int warden_recv_fd(int sock) {
    pid_t sender;
    return warden_recv_fd_pid(sock, &sender);
}

int warden_notify_supported(void) {
    struct seccomp_notif_sizes sizes;
    return syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0 ? 1 : 0;
}

int warden_passcred(int sock) {
    int on = 1;
    return setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0 ? -errno : 0;
}

int warden_recv_fd_pid(int sock, pid_t *sender) {
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof u.buf;
    *sender = 0;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    if (n == 0) return -EPIPE;
    int fd = -EPROTO;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof(int));
        // With SO_PASSCRED on this end, the kernel stamps the sender's pid, translated into
        // the receiver's PID namespace: the agent's pid as the host (and the audit log) sees it.
        if (c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            *sender = cred.pid;
        }
    }
    return fd;
}
