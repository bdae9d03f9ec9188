// The kernel audit netlink socket, for collecting Landlock's own denial records (ABI 7).
// Only the runner calls these, never the child. Everything here needs root: AUDIT_GET and
// AUDIT_SET need CAP_AUDIT_CONTROL, the read-only multicast group CAP_AUDIT_READ, a user
// message CAP_AUDIT_WRITE, and all of them the initial user and PID namespaces.
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

// From libaudit, which the kernel headers do not carry.
#define WARDEN_AUDIT_TRUSTED_APP 1121
#define WARDEN_AUDIT_MAX_MESSAGE 8970

static int audit_socket(void) {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    if (s < 0) return -errno;
    // A request is answered at once or never: do not let a wedged audit subsystem hang a launch.
    struct timeval tv = {0, 500000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

// Sends one request with NLM_F_ACK; returns the socket to read the answer from, or -errno.
static int audit_send(uint16_t type, const void *payload, size_t len) {
    int s = audit_socket();
    if (s < 0) return s;
    union { struct nlmsghdr h; char buf[NLMSG_SPACE(1024)]; } req;
    if (len > 1024) { close(s); return -EINVAL; }
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = NLMSG_LENGTH(len);
    req.h.nlmsg_type = type;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = 1;
    if (len) memcpy(NLMSG_DATA(&req.h), payload, len);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(s, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    return s;
}

// Reads until the ACK (or an error) has come and, when `reply_type` is non-zero, the first
// message of that type, copied into `reply`. Closes the socket.
static int audit_receive(int s, uint16_t reply_type, void *reply, size_t reply_len) {
    // The kernel sends the ACK at once and a reply (AUDIT_GET's) from a kernel thread it
    // starts for it, so they come in either order: wait for both.
    int got_reply = reply_type == 0, got_ack = 0;
    char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
    while (!(got_reply && got_ack)) {
        ssize_t got = recv(s, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) { int e = errno; close(s); return -(e == EAGAIN ? ETIMEDOUT : e); }
        int n = (int)got;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *err = NLMSG_DATA(h);
                if (err->error != 0) { close(s); return err->error; }
                got_ack = 1;
            } else if (h->nlmsg_type == reply_type && !got_reply) {
                size_t have = h->nlmsg_len - NLMSG_HDRLEN;
                memset(reply, 0, reply_len);
                memcpy(reply, NLMSG_DATA(h), have < reply_len ? have : reply_len);
                got_reply = 1;
            }
        }
    }
    close(s);
    return 0;
}

static int audit_request(uint16_t type, const void *payload, size_t len, uint16_t reply_type,
                         void *reply, size_t reply_len) {
    int s = audit_send(type, payload, len);
    return s < 0 ? s : audit_receive(s, reply_type, reply, reply_len);
}

int warden_audit_status_send(void) {
    return audit_send(AUDIT_GET, NULL, 0);
}

int warden_audit_status_receive(int sock, struct warden_audit_status *out) {
    struct audit_status st;
    int rc = audit_receive(sock, AUDIT_GET, &st, sizeof st);
    if (rc < 0) return rc;
    out->enabled = st.enabled;
    out->failure = st.failure;
    out->daemon_pid = st.pid;
    out->backlog_limit = st.backlog_limit;
    out->lost = st.lost;
    out->backlog = st.backlog;
    return 0;
}

int warden_audit_status(struct warden_audit_status *out) {
    int s = warden_audit_status_send();
    return s < 0 ? s : warden_audit_status_receive(s, out);
}

int warden_audit_set_enabled(uint32_t enabled) {
    struct audit_status st;
    memset(&st, 0, sizeof st);
    st.mask = AUDIT_STATUS_ENABLED;
    st.enabled = enabled;
    return audit_request(AUDIT_SET, &st, sizeof st, 0, NULL, 0);
}

int warden_audit_user_message(const char *text) {
    // AUDIT_TRUSTED_APP: free text from a trusted program. It travels through the same
    // kernel queue as the Landlock records, so it arrives after every record queued before it.
    return audit_request(WARDEN_AUDIT_TRUSTED_APP, text, strlen(text) + 1, 0, NULL, 0);
}

int warden_audit_open_log(int rcvbuf) {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
    if (s < 0) return -errno;
    // Records are sent once and dropped when the buffer is full (the next recv says ENOBUFS):
    // a large buffer rides out a burst of denials while the reader catches up.
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = 1U << (AUDIT_NLGRP_READLOG - 1)};
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int e = errno;
        close(s);
        return -e;
    }
    return s;
}

ssize_t warden_audit_recv(int fd, char *text, size_t cap, uint16_t *type) {
    char buf[WARDEN_AUDIT_MAX_MESSAGE + NLMSG_HDRLEN + 64] __attribute__((aligned(NLMSG_ALIGNTO)));
    ssize_t n;
    do { n = recv(fd, buf, sizeof buf, MSG_DONTWAIT); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(h, (int)n) || cap == 0) return -EPROTO;
    // The kernel's length includes the header; the text is not always NUL-terminated.
    size_t len = h->nlmsg_len - NLMSG_HDRLEN;
    if (len > (size_t)n - NLMSG_HDRLEN) len = (size_t)n - NLMSG_HDRLEN;
    if (len > cap - 1) len = cap - 1;
    memcpy(text, NLMSG_DATA(h), len);
    while (len > 0 && text[len - 1] == '\0') len--;
    text[len] = '\0';
    *type = h->nlmsg_type;
    return (ssize_t)len;
}
