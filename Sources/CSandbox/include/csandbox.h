// The part of Warden that must run between fork and exec, and the raw syscalls Swift cannot
// call directly (variadic `syscall`, function-like macros, constants hidden behind _GNU_SOURCE).
//
// Everything the child needs is prepared by the parent and passed in `struct warden_spec`:
// the child only applies it, with raw async-signal-safe calls, never allocating.
#ifndef CSANDBOX_H
#define CSANDBOX_H

#include <stdint.h>
#include <sys/types.h>

// ---- Landlock (defined here because the distro headers stop at ABI 2) ----
#define WARDEN_LL_FS_EXECUTE      (1ULL << 0)
#define WARDEN_LL_FS_WRITE_FILE   (1ULL << 1)
#define WARDEN_LL_FS_READ_FILE    (1ULL << 2)
#define WARDEN_LL_FS_READ_DIR     (1ULL << 3)
#define WARDEN_LL_FS_REMOVE_DIR   (1ULL << 4)
#define WARDEN_LL_FS_REMOVE_FILE  (1ULL << 5)
#define WARDEN_LL_FS_MAKE_CHAR    (1ULL << 6)
#define WARDEN_LL_FS_MAKE_DIR     (1ULL << 7)
#define WARDEN_LL_FS_MAKE_REG     (1ULL << 8)
#define WARDEN_LL_FS_MAKE_SOCK    (1ULL << 9)
#define WARDEN_LL_FS_MAKE_FIFO    (1ULL << 10)
#define WARDEN_LL_FS_MAKE_BLOCK   (1ULL << 11)
#define WARDEN_LL_FS_MAKE_SYM     (1ULL << 12)
#define WARDEN_LL_FS_REFER        (1ULL << 13) /* ABI 2 */
#define WARDEN_LL_FS_TRUNCATE     (1ULL << 14) /* ABI 3 */
#define WARDEN_LL_FS_IOCTL_DEV    (1ULL << 15) /* ABI 5 */
#define WARDEN_LL_NET_BIND_TCP    (1ULL << 0)  /* ABI 4 */
#define WARDEN_LL_NET_CONNECT_TCP (1ULL << 1)  /* ABI 4 */
#define WARDEN_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define WARDEN_LL_SCOPE_SIGNAL               (1ULL << 1) /* ABI 6 */
#define WARDEN_LL_RESTRICT_SELF_LOG_SAME_EXEC_OFF (1U << 0) /* ABI 7 */
#define WARDEN_LL_RESTRICT_SELF_LOG_NEW_EXEC_ON   (1U << 1) /* ABI 7 */

/// The running kernel's Landlock ABI version, or -errno (EOPNOTSUPP: disabled at boot,
/// ENOSYS: not built in).
int warden_landlock_abi(void);
/// Returns a ruleset fd or -errno. Pass 0 for fields the ABI does not have.
int warden_landlock_create_ruleset(uint64_t fs, uint64_t net, uint64_t scoped);
/// Adds a path-beneath rule for `path` (opened O_PATH here). Returns 0 or -errno.
int warden_landlock_add_path(int ruleset, const char *path, uint64_t access);
/// Adds rules for `n` paths in one call (missing paths are skipped). Returns 0, or -errno with
/// the failing index in *failed.
int warden_landlock_add_paths(int ruleset, const char *const *paths, const uint64_t *access, int n,
                              uint64_t file_mask, int *failed);
/// Adds a TCP port rule. Returns 0 or -errno.
int warden_landlock_add_port(int ruleset, uint64_t port, uint64_t access);

// ---- namespaces and other constants Swift's Glibc module does not see ----
extern const unsigned long warden_CLONE_NEWNS, warden_CLONE_NEWPID, warden_CLONE_NEWNET,
    warden_CLONE_NEWIPC, warden_CLONE_NEWUSER, warden_CLONE_NEWUTS, warden_CLONE_NEWCGROUP;

/// pipe2(O_CLOEXEC). Returns 0 or -errno.
int warden_pipe(int fds[2]);
/// Whether `path` is the root of a cgroup v2 hierarchy.
int warden_is_cgroup2(const char *path);
enum {
    WARDEN_RLIMIT_CPU = 0, WARDEN_RLIMIT_FSIZE = 1, WARDEN_RLIMIT_CORE = 4, WARDEN_RLIMIT_NPROC = 6,
    WARDEN_RLIMIT_NOFILE = 7, WARDEN_RLIMIT_AS = 9,
};

/// An anonymous in-memory file (libseccomp exports its program into one). Returns fd or -errno.
int warden_memfd(const char *name);

// ---- what the child does ----
enum warden_mount_kind {
    WARDEN_MOUNT_TMPFS = 1,       // private, empty, noexec tmpfs at `target` (scratch)
    WARDEN_MOUNT_NOEXEC_BIND = 2, // bind `target` onto itself, remounted noexec,nosuid,nodev
    WARDEN_MOUNT_PROC = 3,        // a fresh procfs at `target` for the new PID namespace
    WARDEN_MOUNT_READONLY_BIND = 4, // bind the file or directory `target` onto itself, read-only
    WARDEN_MOUNT_VIEW = 5,        // overlayfs over the workspace `target` (`data`: its options);
                                  // the live `.warden` (read-write) and `.git` (read-only) are
                                  // bound back into it
    WARDEN_MOUNT_HIDE = 6,        // an empty, read-only tmpfs over the directory `target`
};

struct warden_mount {
    int kind;
    const char *target;
    const char *data; // tmpfs options, e.g. "size=1073741824,mode=1777"
};

/// A Landlock rule for a path that only exists once the child's mounts are in place. A missing
/// path is skipped; on a file, only the file rights of `access` apply.
struct warden_child_rule {
    const char *path;
    uint64_t access;
};

struct warden_rlimit {
    int resource;
    uint64_t value; // soft and hard
};

/// Failure stages the child reports as {stage, errno}; names in warden_stage_name().
enum warden_stage {
    WARDEN_STAGE_SYNC = 1, WARDEN_STAGE_SETSID, WARDEN_STAGE_SETGROUPS, WARDEN_STAGE_UID_MAP,
    WARDEN_STAGE_GID_MAP, WARDEN_STAGE_MOUNT_PRIVATE, WARDEN_STAGE_MOUNT_TMPFS,
    WARDEN_STAGE_MOUNT_BIND, WARDEN_STAGE_REMOUNT_NOEXEC, WARDEN_STAGE_MOUNT_PROC,
    WARDEN_STAGE_SCRATCH_RULE, WARDEN_STAGE_FORK_AGENT, WARDEN_STAGE_SETRLIMIT,
    WARDEN_STAGE_CAPBSET_DROP, WARDEN_STAGE_SECUREBITS, WARDEN_STAGE_CAPSET,
    WARDEN_STAGE_CHDIR, WARDEN_STAGE_CLOSE_RANGE, WARDEN_STAGE_NO_NEW_PRIVS,
    WARDEN_STAGE_LANDLOCK_RESTRICT_SELF, WARDEN_STAGE_SECCOMP, WARDEN_STAGE_EXECVE,
    WARDEN_STAGE_PDEATHSIG, WARDEN_STAGE_DUMPABLE, WARDEN_STAGE_CGROUP_JOIN,
    WARDEN_STAGE_NOTIFY_SEND, WARDEN_STAGE_MOUNT_READONLY, WARDEN_STAGE_LANDLOCK_RECEIVE,
    WARDEN_STAGE_VIEW_TREE, WARDEN_STAGE_MOUNT_VIEW, WARDEN_STAGE_VIEW_ATTACH, WARDEN_STAGE_MOUNT_HIDE,
    WARDEN_STAGE_SETNS_NET, WARDEN_STAGE_COMMAND_RECEIVE,
};
const char *warden_stage_name(int stage);

struct warden_report {
    int32_t stage;
    int32_t err;
};

struct warden_spec {
    const char *path;          // absolute path of the executable
    char *const *argv;
    char *const *envp;
    const char *cwd;
    unsigned long clone_flags; // CLONE_NEW* for the first child
    int map_user;              // write a one-to-one uid/gid map (unprivileged caller)
    uint32_t outer_uid, outer_gid;
    const struct warden_mount *mounts;
    int n_mounts;
    int landlock_fd;           // -1: none (or not yet: see landlock_sock)
    int landlock_sock;         // >= 0: the ruleset arrives here (SCM_RIGHTS) once the mounts are
                               // done, so the runner builds it while the child sets up
    uint32_t landlock_flags;   // landlock_restrict_self flags
    const struct warden_child_rule *child_rules; // added in the child, after its mounts
    int n_child_rules;
    const void *bpf;           // struct sock_filter[], exported by libseccomp in the parent
    uint16_t bpf_len;          // instruction count; 0: no seccomp
    uint32_t seccomp_flags;
    const struct warden_rlimit *rlimits;
    int n_rlimits;
    int drop_caps;
    int use_init;              // a minimal init as PID 1 forwards signals and reaps
    int cgroup_tasks[2];       // v1 `tasks` files opened by the runner (-1: none): the child
                               // writes "0" to each, moving itself in before anything else
    int sync_fd;               // read end: the child waits for one byte before going on (-1: no wait)
    int report_fd;             // write end, O_CLOEXEC: {stage, errno}; EOF means exec happened
    int status_fd;             // write end: init writes the agent's wait status and whether
                               // it killed and reaped everything else (int32 each)
    int notify_sock;           // -1, or where the agent sends its seccomp listener (SCM_RIGHTS)
    int parent_ends[4];        // the runner's ends of those pipes, closed first in the child (-1: none)
    int parent_channel;        // the runner's end of the landlock/notify socket (-1: none)
    int control_fd;            // -1, or the agent's end of the control channel: becomes the
                               // agent's fd WARDEN_CONTROL_FD (3), the one fd above stdio it keeps
    int init_ctl;              // -1, or init's end of the runner's freeze channel (SEQPACKET):
                               // 'S' stops every other process of the PID namespace
                               // (kill(-1, SIGSTOP)), 'C' continues them; init answers one byte,
                               // 0 or an errno
    int parent_control[2];     // the runner's ends of those two, closed first in the child (-1: none)
    int netns_fd;              // -1, or a new, empty network namespace the runner made ahead
                               // (warden_new_netns): joined with setns, and clone_flags then
                               // lacks CLONE_NEWNET
    int view_sock;             // >= 0: the view's overlay, made ahead by a root runner
                               // (warden_overlay_fsmount), arrives here (SCM_RIGHTS) and is moved
                               // into place; a message without one: mount it here after all
    int null_stdio;            // a standby: 0-2 are /dev/null in the sandbox until the command's
                               // stdio arrives (whoever started the standby must not be held)
    int command_sock;          // >= 0: a standby launch. path, argv, envp and the agent's stdio
                               // arrive here (warden_send_command) after the ruleset; the child
                               // waits for them with everything else in place
};

/// Sends a standby child its command: `blob` is the executable's path, then `argc` argv strings,
/// then `envc` environment strings, each NUL-terminated; `fds` (0 to 3) become the agent's
/// stdin, stdout and stderr. 0 or -errno.
int warden_send_command(int sock, const char *blob, uint64_t len, uint32_t argc, uint32_t envc,
                        const int *fds, int nfds);
/// One message with up to three descriptors attached (SCM_RIGHTS). 0 or -errno.
int warden_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/// Receives into buf (waiting for all `len` bytes on a stream) and up to `max_fds`
/// descriptors (close-on-exec), their count in *nfds. Bytes read, 0 at EOF, or -errno.
ssize_t warden_recv_with_fds(int sock, void *buf, size_t len, int *fds, int max_fds, int *nfds);
/// The connected peer's pid and uid (SO_PEERCRED). 0 or -errno.
int warden_peer(int sock, pid_t *pid, uid_t *uid);
/// A pidfd for the connected peer as it was at connect() (SO_PEERPIDFD), or -errno.
int warden_peer_pidfd(int sock);
/// 1 while the process `pidfd` names exists, else 0.
int warden_pidfd_alive(int pidfd);
/// accept4 with close-on-exec: the new connection's fd, or -errno.
int warden_accept(int sock);
/// Until the next warden_forward_signals, SIGINT, SIGTERM, SIGHUP and SIGQUIT only write
/// their number (one byte) to the returned fd, non-blocking (a waiting standby then stops
/// cleanly; one that was being claimed passes them on). The fd, or -errno.
int warden_stop_signals(void);
/// The child's side (spawn.c calls it): fills path, argv and envp from memory it maps and
/// moves the fds onto 0-2. 0 or -errno (-EPIPE: the runner closed the socket instead).
int warden_receive_command(int sock, const char **path, char *const **argv, char *const **envp);

/// Makes a new network namespace for the calling thread and returns an fd for it, or -errno.
/// Creating one is most of a millisecond of kernel work; a runner with the privilege does it
/// on a thread of its own while it prepares the rest, and the child joins it.
int warden_new_netns(void);
/// The view's overlay as a detached mount (fsopen/fsconfig/fsmount), noexec,nosuid,nodev, with
/// the options ViewMount.options gives a root mount; -errno on failure. For a runner that may
/// mount outside a user namespace: the overlay's set-up (half a dozen inodes made in the work
/// directory) then runs on a thread of the runner's, not on the child's critical path.
int warden_overlay_fsmount(const char *lower, const char *upper, const char *work);

/// The agent's control channel is always this descriptor.
#define WARDEN_CONTROL_FD 3

/// Clones the sandbox child. Returns its pid (in the caller's namespace) or -errno.
pid_t warden_spawn(const struct warden_spec *spec);

// ---- seccomp user notification (the runner's supervisor) ----
struct warden_notification {
    uint64_t id;
    uint32_t pid;   // in the runner's PID namespace
    int32_t nr;
    uint32_t arch;
    uint64_t args[6];
};
int warden_notify_supported(void);
int warden_notify_sync_wakeup(int fd);
/// Blocks for the next notification. 0, or -errno (ENOENT: the caller died meanwhile).
int warden_notify_recv(int fd, struct warden_notification *out);
/// allow != 0: let the call continue (the kernel, Landlock included, decides); else fail it
/// with `error` (a positive errno).
int warden_notify_respond(int fd, uint64_t id, int error, int allow);
/// 0 while the notification's caller is still blocked in it, so what was read is its own.
int warden_notify_id_valid(int fd, uint64_t id);
/// A NUL-terminated string of at most cap-1 bytes from `pid`'s memory: its length, or
/// -errno (-ENAMETOOLONG: no NUL within cap bytes).
ssize_t warden_read_string(pid_t pid, uint64_t addr, char *buf, size_t cap);
ssize_t warden_read_memory(pid_t pid, uint64_t addr, void *buf, size_t len);
/// Sends `fd` (SCM_RIGHTS); fd < 0: a message without one. 0 or -errno.
int warden_send_fd(int sock, int fd);
/// The fd received, or -errno (EPIPE: the peer closed without sending; EPROTO: a message
/// without a descriptor).
int warden_recv_fd(int sock);

/// SO_PASSCRED on the runner's end of the notify socket, before the spawn. 0 or -errno.
int warden_passcred(int sock);
/// warden_recv_fd, also returning the sender's pid as the runner sees it (0 if not stamped).
int warden_recv_fd_pid(int sock, pid_t *sender);

// ---- kernel audit (the Landlock denial log; root only) ----
struct warden_audit_status {
    uint32_t enabled;       // 0 off, 1 on, 2 on and locked
    uint32_t failure;       // 0 silent, 1 printk, 2 panic: what the kernel does when records are lost
    uint32_t daemon_pid;    // auditd, or 0
    uint32_t backlog_limit;
    uint32_t lost;
    uint32_t backlog;
};
/// AUDIT_GET. 0 or -errno (EPERM without CAP_AUDIT_CONTROL, ECONNREFUSED outside the
/// initial user namespace).
int warden_audit_status(struct warden_audit_status *out);
/// The same in two halves, so that a launch can do other work while the kernel answers
/// (its reply comes from a kernel thread it starts for the purpose: ~0.1 ms here).
/// _send returns the socket to pass to _receive (which closes it), or -errno.
int warden_audit_status_send(void);
int warden_audit_status_receive(int sock, struct warden_audit_status *out);
/// AUDIT_SET of the enabled flag. 0 or -errno.
int warden_audit_set_enabled(uint32_t enabled);
/// Logs `text` as an AUDIT_TRUSTED_APP record. 0 or -errno.
int warden_audit_user_message(const char *text);
/// A socket bound to the read-only multicast group (AUDIT_NLGRP_READLOG), or -errno.
int warden_audit_open_log(int rcvbuf);
/// One record without blocking: its text (NUL-terminated) and type. Length or -errno
/// (EAGAIN: nothing queued; ENOBUFS: records were dropped because the buffer was full).
ssize_t warden_audit_recv(int fd, char *text, size_t cap, uint16_t *type);

// ---- the runner side ----
/// Forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to `pid` from now on (0: stop forwarding).
void warden_forward_signals(pid_t pid);
/// Waits for `pid` to exit, at most `timeout_ms` (-1: forever). Returns 0 and the wait status,
/// 1 on timeout (the child is still running), or -errno.
int warden_wait(pid_t pid, int64_t timeout_ms, int *status);
/// warden_wait that also returns 2, without reaping, as soon as `fd` (>= 0) is readable or
/// hung up.
int warden_wait_fd(pid_t pid, int fd, int64_t timeout_ms, int *status);
/// Waits until `fd` is readable or hung up (0), `other` (>= 0) is (2), or `timeout_ms` passes
/// (1; -1: never); -errno on error.
int warden_wait_readable(int fd, int other, int64_t timeout_ms);

static inline int warden_wifexited(int s) { return (s & 0x7f) == 0; }
static inline int warden_wexitstatus(int s) { return (s >> 8) & 0xff; }
static inline int warden_wifsignaled(int s) { return ((s & 0x7f) + 1) >> 1 > 0 && (s & 0x7f) != 0x7f; }
static inline int warden_wtermsig(int s) { return s & 0x7f; }

#endif
