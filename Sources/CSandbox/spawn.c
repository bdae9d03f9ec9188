// The sandbox child. Runs after a raw clone() in a copy of a multithreaded Swift process, so
// it may only make raw, async-signal-safe calls: no malloc, no stdio, no locks, no Swift.
// Every step either succeeds or reports {stage, errno} on the report pipe and exits: the agent
// never runs with less protection than was planned.
#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_landlock_restrict_self
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static const char *const stage_names[] = {
    [WARDEN_STAGE_SYNC] = "sync with runner",
    [WARDEN_STAGE_SETSID] = "setsid",
    [WARDEN_STAGE_SETGROUPS] = "write /proc/self/setgroups",
    [WARDEN_STAGE_UID_MAP] = "write /proc/self/uid_map",
    [WARDEN_STAGE_GID_MAP] = "write /proc/self/gid_map",
    [WARDEN_STAGE_MOUNT_PRIVATE] = "make mounts private",
    [WARDEN_STAGE_MOUNT_TMPFS] = "mount scratch tmpfs",
    [WARDEN_STAGE_MOUNT_BIND] = "bind mount",
    [WARDEN_STAGE_REMOUNT_NOEXEC] = "remount noexec",
    [WARDEN_STAGE_MOUNT_PROC] = "mount /proc",
    [WARDEN_STAGE_SCRATCH_RULE] = "landlock_add_rule (scratch, /proc or the view)",
    [WARDEN_STAGE_FORK_AGENT] = "fork agent",
    [WARDEN_STAGE_SETRLIMIT] = "setrlimit",
    [WARDEN_STAGE_CAPBSET_DROP] = "PR_CAPBSET_DROP",
    [WARDEN_STAGE_SECUREBITS] = "PR_SET_SECUREBITS",
    [WARDEN_STAGE_CAPSET] = "capset",
    [WARDEN_STAGE_CHDIR] = "chdir",
    [WARDEN_STAGE_CLOSE_RANGE] = "close_range",
    [WARDEN_STAGE_NO_NEW_PRIVS] = "PR_SET_NO_NEW_PRIVS",
    [WARDEN_STAGE_LANDLOCK_RESTRICT_SELF] = "landlock_restrict_self",
    [WARDEN_STAGE_SECCOMP] = "seccomp",
    [WARDEN_STAGE_EXECVE] = "execve",
    [WARDEN_STAGE_PDEATHSIG] = "PR_SET_PDEATHSIG",
    [WARDEN_STAGE_DUMPABLE] = "PR_SET_DUMPABLE",
    [WARDEN_STAGE_CGROUP_JOIN] = "join the run's cgroup",
    [WARDEN_STAGE_NOTIFY_SEND] = "send the seccomp listener to the supervisor",
    [WARDEN_STAGE_MOUNT_READONLY] = "make host mounts read-only (mount_setattr)",
    [WARDEN_STAGE_LANDLOCK_RECEIVE] = "receive the Landlock ruleset from the runner",
    [WARDEN_STAGE_VIEW_TREE] = "clone the workspace's .warden/.git mounts (open_tree)",
    [WARDEN_STAGE_MOUNT_VIEW] = "mount the overlay view of the workspace",
    [WARDEN_STAGE_VIEW_ATTACH] = "attach .warden/.git inside the view (move_mount)",
    [WARDEN_STAGE_MOUNT_HIDE] = "hide the gate's directories from the agent",
    [WARDEN_STAGE_SETNS_NET] = "join the run's new network namespace (setns)",
    [WARDEN_STAGE_COMMAND_RECEIVE] = "receive the command (standby)",
};

const char *warden_stage_name(int stage) {
    if (stage <= 0 || stage >= (int)(sizeof stage_names / sizeof *stage_names) || !stage_names[stage])
        return "unknown stage";
    return stage_names[stage];
}

static void fail(const struct warden_spec *spec, int stage) {
    struct warden_report r = {stage, errno};
    (void)!write(spec->report_fd, &r, sizeof r);
    _exit(127);
}

static char *put_uint(char *p, uint32_t v) {
    char tmp[12];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

static int write_file(const char *path, const char *buf, size_t len) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, buf, len);
    int err = errno;
    close(fd);
    errno = err;
    return n == (ssize_t)len ? 0 : -1;
}

// Maps the caller's uid and gid to themselves: the agent keeps its identity, and the
// namespace's capabilities exist only to set up mounts before they are dropped.
static void map_identity(const struct warden_spec *spec) {
    char line[40], *p;
    if (write_file("/proc/self/setgroups", "deny", 4) < 0) fail(spec, WARDEN_STAGE_SETGROUPS);
    p = put_uint(line, spec->outer_uid); *p++ = ' ';
    p = put_uint(p, spec->outer_uid); *p++ = ' '; *p++ = '1'; *p++ = '\n';
    if (write_file("/proc/self/uid_map", line, (size_t)(p - line)) < 0) fail(spec, WARDEN_STAGE_UID_MAP);
    p = put_uint(line, spec->outer_gid); *p++ = ' ';
    p = put_uint(p, spec->outer_gid); *p++ = ' '; *p++ = '1'; *p++ = '\n';
    if (write_file("/proc/self/gid_map", line, (size_t)(p - line)) < 0) fail(spec, WARDEN_STAGE_GID_MAP);
}

// A remount must repeat the flags a user namespace has locked on the original mount
// (nosuid, nodev, rdonly, atime flags), or the kernel refuses it with EPERM.
static unsigned long locked_flags(const char *path) {
    struct statvfs st;
    unsigned long flags = 0;
    if (statvfs(path, &st) != 0) return 0;
    if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
    if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

// `flags`: the target's mount flags as they were before this namespace made everything
// read-only, so that a workspace the host mounts read-write is writable again here.
static void bind_noexec(const struct warden_spec *spec, const char *source, const char *target, unsigned long flags) {
    const unsigned long nox = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0) fail(spec, WARDEN_STAGE_MOUNT_BIND);
    if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | nox | flags, NULL) < 0)
        fail(spec, WARDEN_STAGE_REMOUNT_NOEXEC);
}

#define WARDEN_ATTR_RDONLY 0x1ULL
#define WARDEN_ATTR_NOX 0xEULL /* MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC */

static long set_mount_attr(int dfd, const char *path, unsigned flags, uint64_t set, uint64_t clr) {
    struct { uint64_t set, clr, propagation, userns; } attr = {set, clr, 0, 0};
    return syscall(442 /* mount_setattr */, dfd, path, flags, &attr, sizeof attr);
}

// `dir` + `name` into `buf`; false when it does not fit (no malloc in this process).
static bool join_path(char *buf, size_t size, const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    if (a + b + 1 > size) return false;
    memcpy(buf, dir, a);
    memcpy(buf + a, name, b + 1);
    return true;
}

// The agent's view: an overlay whose lower layer is an immutable snapshot of the workspace
// and whose upper layer is the run's own, mounted over the workspace path so that every
// path the agent knows still works. The live `.warden` (tasks, handoffs, the audit store) and
// `.git` are not part of the snapshot: copies of their mounts are taken before the overlay
// hides them and attached inside it, `.git` read-only (the gate refuses changes there).
// Runs before the namespace turns every mount read-only; `clear_view_rdonly` undoes that for
// the view itself afterwards.
static void mount_view(const struct warden_spec *spec, const struct warden_mount *m) {
    char warden[4096], git[4096];
    if (!join_path(warden, sizeof warden, m->target, "/.warden") || !join_path(git, sizeof git, m->target, "/.git")) {
        errno = ENAMETOOLONG;
        fail(spec, WARDEN_STAGE_VIEW_TREE);
    }
    const unsigned tree_flags = 1 /* OPEN_TREE_CLONE */ | O_CLOEXEC | 0x8000 /* AT_RECURSIVE */;
    int wt = (int)syscall(428 /* open_tree */, AT_FDCWD, warden, tree_flags);
    if (wt < 0 || set_mount_attr(wt, "", AT_EMPTY_PATH | 0x8000, WARDEN_ATTR_NOX, 0) < 0)
        fail(spec, WARDEN_STAGE_VIEW_TREE);
    int gt = -1;
    struct stat st;
    if (lstat(git, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
        gt = (int)syscall(428, AT_FDCWD, git, tree_flags);
        if (gt < 0 || set_mount_attr(gt, "", AT_EMPTY_PATH | 0x8000, WARDEN_ATTR_RDONLY | WARDEN_ATTR_NOX, 0) < 0)
            fail(spec, WARDEN_STAGE_VIEW_TREE);
    }
    // -EPROTO: a message without a descriptor (the runner's attempt failed): mount it here,
    // and report why if that fails too. EOF: the runner died.
    int made = spec->view_sock >= 0 ? warden_recv_fd(spec->view_sock) : -EPROTO;
    if (made >= 0) {
        if (syscall(429 /* move_mount */, made, "", AT_FDCWD, m->target, 4 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0)
            fail(spec, WARDEN_STAGE_MOUNT_VIEW);
        close(made);
    } else if (made != -EPROTO) {
        errno = -made;
        fail(spec, WARDEN_STAGE_MOUNT_VIEW);
    } else if (mount("overlay", m->target, "overlay", MS_NOSUID | MS_NODEV | MS_NOEXEC, m->data) < 0) {
        fail(spec, WARDEN_STAGE_MOUNT_VIEW);
    }
    if (syscall(429 /* move_mount */, wt, "", AT_FDCWD, warden, 4 /* MOVE_MOUNT_F_EMPTY_PATH */) < 0)
        fail(spec, WARDEN_STAGE_VIEW_ATTACH);
    close(wt);
    if (gt >= 0) {
        if (syscall(429, gt, "", AT_FDCWD, git, 4) < 0) fail(spec, WARDEN_STAGE_VIEW_ATTACH);
        close(gt);
    }
}

// The view and the live `.warden` were made read-only with every other mount; both are the
// agent's to write (Landlock still limits where), unless the host mounts them read-only.
static void clear_view_rdonly(const struct warden_spec *spec, const char *target, unsigned long original) {
    char warden[4096];
    if (original & MS_RDONLY) return;
    if (!join_path(warden, sizeof warden, target, "/.warden")) {
        errno = ENAMETOOLONG;
        fail(spec, WARDEN_STAGE_MOUNT_VIEW);
    }
    if (set_mount_attr(AT_FDCWD, target, 0, 0, WARDEN_ATTR_RDONLY) < 0) fail(spec, WARDEN_STAGE_MOUNT_VIEW);
    if (set_mount_attr(AT_FDCWD, warden, 0, 0, WARDEN_ATTR_RDONLY) < 0) fail(spec, WARDEN_STAGE_VIEW_ATTACH);
}

static void apply_mounts(const struct warden_spec *spec) {
    const unsigned long nox = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    unsigned long original[16] = {0};
    for (int i = 0; i < spec->n_mounts && i < 16; i++) {
        int kind = spec->mounts[i].kind;
        if (kind == WARDEN_MOUNT_NOEXEC_BIND || kind == WARDEN_MOUNT_VIEW) original[i] = locked_flags(spec->mounts[i].target);
    }
    if (spec->clone_flags & CLONE_NEWNS) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(spec, WARDEN_STAGE_MOUNT_PRIVATE);
        for (int i = 0; i < spec->n_mounts; i++) {
            if (spec->mounts[i].kind == WARDEN_MOUNT_VIEW) mount_view(spec, &spec->mounts[i]);
        }
        // Every host mount read-only in this namespace, before the writable places are
        // mounted: Landlock has no right for chmod, chown or utimes, so without this a root
        // agent could chmod files it owns anywhere it can name (a setuid bit on a host binary).
        if (set_mount_attr(AT_FDCWD, "/", 0x8000 /* AT_RECURSIVE */, WARDEN_ATTR_RDONLY, 0) < 0)
            fail(spec, WARDEN_STAGE_MOUNT_READONLY);
    }
    for (int i = 0; i < spec->n_mounts; i++) {
        const struct warden_mount *m = &spec->mounts[i];
        switch (m->kind) {
        case WARDEN_MOUNT_TMPFS:
            if (mount("tmpfs", m->target, "tmpfs", nox, m->data) < 0) fail(spec, WARDEN_STAGE_MOUNT_TMPFS);
            break;
        case WARDEN_MOUNT_NOEXEC_BIND:
            bind_noexec(spec, m->target, m->target, i < 16 ? original[i] : locked_flags(m->target));
            break;
        case WARDEN_MOUNT_PROC:
            if (mount("proc", m->target, "proc", nox, NULL) < 0) fail(spec, WARDEN_STAGE_MOUNT_PROC);
            break;
        case WARDEN_MOUNT_READONLY_BIND:
            // Over a place inside a writable bind (the audit store in the workspace): the
            // agent can neither write it nor unlink or rename it (a mount point is busy).
            if (mount(m->target, m->target, NULL, MS_BIND, NULL) < 0) fail(spec, WARDEN_STAGE_MOUNT_BIND);
            if (mount(NULL, m->target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | nox | locked_flags(m->target), NULL) < 0)
                fail(spec, WARDEN_STAGE_REMOUNT_NOEXEC);
            break;
        case WARDEN_MOUNT_VIEW:
            clear_view_rdonly(spec, m->target, i < 16 ? original[i] : MS_RDONLY);
            break;
        case WARDEN_MOUNT_HIDE:
            // The gate's snapshots share inodes with the workspace, and other runs' upper
            // layers are theirs: neither may be reached from inside a view.
            if (mount("tmpfs", m->target, "tmpfs", nox | MS_RDONLY, "size=4k,nr_inodes=4,mode=0555") < 0)
                fail(spec, WARDEN_STAGE_MOUNT_HIDE);
            break;
        }
    }
}

// Scratch tmpfs and the fresh /proc only exist once mounted in this namespace (a rule on the
// host's /proc would name the host's procfs), so their Landlock rules are added here, to the
// ruleset the parent built.
static void add_child_rules(const struct warden_spec *spec) {
    // Landlock's file rights (execute, write, read, truncate, ioctl_dev): all a rule on a
    // file may carry. A workspace zone may be a single file (Package.swift).
    const uint64_t file_rights = (1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14) | (1ULL << 15);
    for (int i = 0; i < spec->n_child_rules; i++) {
        uint64_t access = spec->child_rules[i].access;
        int rc = warden_landlock_add_path(spec->landlock_fd, spec->child_rules[i].path, access);
        if (rc == -EINVAL && (access & ~file_rights))
            rc = warden_landlock_add_path(spec->landlock_fd, spec->child_rules[i].path, access & file_rights);
        // A zone the view's snapshot lacks: nothing there to allow.
        if (rc == -ENOENT) continue;
        if (rc < 0) {
            errno = -rc;
            fail(spec, WARDEN_STAGE_SCRATCH_RULE);
        }
    }
}

static void drop_capabilities(const struct warden_spec *spec) {
    if (!spec->drop_caps) return;
    // Root keeps uid 0 inside; without NOROOT an exec would grant it the full set again.
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                         SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
#ifdef SECBIT_NO_CAP_AMBIENT_RAISE
    bits |= SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
#endif
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) fail(spec, WARDEN_STAGE_SECUREBITS);
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) fail(spec, WARDEN_STAGE_CAPBSET_DROP);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0) fail(spec, WARDEN_STAGE_CAPSET);
}

// The control channel becomes the agent's fd 3 (without close-on-exec). Whatever of ours
// still sits at 3 (the report pipe, the notify socket, the ruleset) moves up first.
static void place_control(struct warden_spec *spec) {
    int *ours[] = {&spec->report_fd, &spec->notify_sock, &spec->landlock_fd};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) {
        if (*ours[i] != WARDEN_CONTROL_FD) continue;
        int moved = fcntl(WARDEN_CONTROL_FD, F_DUPFD_CLOEXEC, WARDEN_CONTROL_FD + 1);
        if (moved < 0) fail(spec, WARDEN_STAGE_CLOSE_RANGE);
        for (size_t j = 0; j < sizeof ours / sizeof *ours; j++) {
            if (*ours[j] == WARDEN_CONTROL_FD) *ours[j] = moved;
        }
    }
    if (spec->control_fd == WARDEN_CONTROL_FD) {
        if (fcntl(WARDEN_CONTROL_FD, F_SETFD, 0) < 0) fail(spec, WARDEN_STAGE_CLOSE_RANGE);
    } else {
        if (dup2(spec->control_fd, WARDEN_CONTROL_FD) < 0) fail(spec, WARDEN_STAGE_CLOSE_RANGE);
        close(spec->control_fd);
    }
    spec->control_fd = WARDEN_CONTROL_FD;
}

static void become_agent(const struct warden_spec *shared) {
    struct warden_spec copy = *shared;
    struct warden_spec *spec = &copy;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    }
    for (int i = 0; i < spec->n_rlimits; i++) {
        struct rlimit rl = {spec->rlimits[i].value, spec->rlimits[i].value};
        if (setrlimit(spec->rlimits[i].resource, &rl) < 0) fail(spec, WARDEN_STAGE_SETRLIMIT);
    }
    if (spec->cwd && chdir(spec->cwd) < 0) fail(spec, WARDEN_STAGE_CHDIR);
    // Everything above stdio closes at exec; the report pipe stays usable until then.
    if (syscall(__NR_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) fail(spec, WARDEN_STAGE_CLOSE_RANGE);
    if (spec->init_ctl >= 0) close(spec->init_ctl);
    if (spec->control_fd >= 0) place_control(spec);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(spec, WARDEN_STAGE_NO_NEW_PRIVS);
    if (spec->landlock_fd >= 0) {
        if (syscall(__NR_landlock_restrict_self, spec->landlock_fd, spec->landlock_flags) < 0)
            fail(spec, WARDEN_STAGE_LANDLOCK_RESTRICT_SELF);
        close(spec->landlock_fd);
    }
    // seccomp last: once loaded, it would deny the calls that set up the layers above.
    if (spec->bpf_len) {
        struct sock_fprog prog = {spec->bpf_len, (struct sock_filter *)spec->bpf};
        long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, spec->seccomp_flags, &prog);
        if (listener < 0) fail(spec, WARDEN_STAGE_SECCOMP);
        // The listener goes to the runner's supervisor; the agent must not keep it, or it
        // could answer its own notifications.
        if (spec->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
            if (warden_send_fd(spec->notify_sock, (int)listener) < 0) fail(spec, WARDEN_STAGE_NOTIFY_SEND);
            close((int)listener);
            if (spec->notify_sock != spec->command_sock) close(spec->notify_sock);
        }
    }
    // A standby's agent waits here, under every protection already, until a `warden run`
    // hands it a command: it says it is ready, then takes the command and the caller's stdio.
    // EOF means the standby ended unused.
    if (spec->command_sock >= 0) {
        int rc = warden_send_fd(spec->command_sock, -1);
        if (rc == 0) rc = warden_receive_command(spec->command_sock, &spec->path, &spec->argv, &spec->envp);
        if (rc < 0) {
            errno = -rc;
            fail(spec, WARDEN_STAGE_COMMAND_RECEIVE);
        }
        close(spec->command_sock);
    }
    execve(spec->path, spec->argv, spec->envp);
    fail(spec, WARDEN_STAGE_EXECVE);
}

static volatile pid_t init_agent_pid;

static void init_sigchld(int sig) { (void)sig; }

static void init_forward(int sig) {
    if (init_agent_pid > 0) kill(init_agent_pid, sig);
}

// PID 1 of the sandbox: the agent is its child, so that signals reach the agent with their
// default meaning (PID 1 ignores signals it has no handler for), orphans are reaped, and when
// the agent exits the kernel kills everything left in the namespace.
static void run_init(const struct warden_spec *spec) {
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail(spec, WARDEN_STAGE_DUMPABLE);
    drop_capabilities(spec);
    pid_t agent = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (agent < 0) fail(spec, WARDEN_STAGE_FORK_AGENT);
    if (agent == 0) {
        struct warden_spec child = *spec;
        child.drop_caps = 0; // already dropped: a second PR_CAPBSET_DROP would fail
        become_agent(&child);
    }
    init_agent_pid = agent;
    // Only the agent sends on it: if the agent dies first, the runner must see EOF.
    if (spec->notify_sock >= 0) close(spec->notify_sock);
    if (spec->command_sock >= 0 && spec->command_sock != spec->notify_sock) close(spec->command_sock);
    // The agent's; the runner sees EOF on it once the agent's processes are gone.
    if (spec->control_fd >= 0) close(spec->control_fd);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = init_forward;
    sa.sa_flags = SA_RESTART;
    const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &sa, NULL);
    close(spec->report_fd);
    // SIGCHLD stays blocked except inside ppoll, so that a child's exit always ends the wait
    // (a no-op handler: the default action would discard it).
    sa.sa_handler = init_sigchld;
    sa.sa_flags = 0;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t chld, waiting;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &waiting);
    sigdelset(&waiting, SIGCHLD);
    int ctl = spec->init_ctl;
    int32_t status = 0;
    for (;;) {
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, __WALL | WNOHANG)) > 0) {
            if (w == agent) { status = st; goto done; }
        }
        if (w < 0 && errno != EINTR) break;
        struct pollfd p = {ctl, POLLIN, 0};
        int rc = ppoll(&p, ctl >= 0 ? 1 : 0, NULL, &waiting);
        if (rc <= 0 || ctl < 0) continue;
        unsigned char request;
        ssize_t n = read(ctl, &request, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { close(ctl); ctl = -1; continue; }
        // kill(-1) reaches every process of this namespace but init itself, and a fork in
        // flight either fails or its child gets the signal too; ESRCH: nobody left.
        int sig = request == 'S' ? SIGSTOP : request == 'C' ? SIGCONT : 0;
        unsigned char answer = (unsigned char)EINVAL;
        if (sig) answer = (kill(-1, sig) == 0 || errno == ESRCH) ? 0 : (unsigned char)errno;
        (void)!write(ctl, &answer, 1);
    }
done:;
    // Everything else in the namespace goes now and is reaped here, so that the runner may
    // take the agent's status and go on (the view, the audit row) while the kernel tears
    // the namespaces and this copy of the runner down. [1] says whether nothing is left.
    int32_t report[2] = {status, 0};
    if (kill(-1, SIGKILL) == 0 || errno == ESRCH) {
        while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR) {}
        report[1] = errno == ECHILD;
    }
    (void)!write(spec->status_fd, report, sizeof report);
    _exit(0);
}

static void child_main(const struct warden_spec *shared) {
    // The child's own copy (clone without CLONE_VM copied the memory): the ruleset fd is
    // filled in below.
    struct warden_spec copy = *shared;
    struct warden_spec *spec = &copy;
    for (int i = 0; i < 4; i++) {
        if (spec->parent_ends[i] >= 0) close(spec->parent_ends[i]);
    }
    if (spec->parent_channel >= 0) close(spec->parent_channel);
    for (int i = 0; i < 2; i++) {
        if (spec->parent_control[i] >= 0) close(spec->parent_control[i]);
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(spec, WARDEN_STAGE_PDEATHSIG);
    if (spec->null_stdio) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0) fail(spec, WARDEN_STAGE_COMMAND_RECEIVE);
        for (int fd = 0; fd < 3; fd++) {
            if (dup2(null, fd) < 0) fail(spec, WARDEN_STAGE_COMMAND_RECEIVE);
        }
        close(null);
    }
    if (spec->netns_fd >= 0) {
        if (setns(spec->netns_fd, CLONE_NEWNET) < 0) fail(spec, WARDEN_STAGE_SETNS_NET);
        close(spec->netns_fd);
    }
    // A v1 group is joined by the child itself, writing "0" (this thread) to `tasks`: moving
    // a single thread that is the caller skips the kernel's global threadgroup lock, whose
    // write side waits out an RCU grace period (about 10 ms) when the runner moves a pid.
    for (int i = 0; i < 2; i++) {
        if (spec->cgroup_tasks[i] < 0) continue;
        if (write(spec->cgroup_tasks[i], "0", 1) != 1) fail(spec, WARDEN_STAGE_CGROUP_JOIN);
        close(spec->cgroup_tasks[i]);
    }
    if (spec->sync_fd >= 0) {
        char go;
        // EOF here means the runner died before it placed us in our cgroup: do not run.
        if (read(spec->sync_fd, &go, 1) != 1) fail(spec, WARDEN_STAGE_SYNC);
        close(spec->sync_fd);
    }
    if (setsid() < 0) fail(spec, WARDEN_STAGE_SETSID);
    if (spec->map_user) map_identity(spec);
    apply_mounts(spec);
    if (spec->landlock_sock >= 0) {
        // EOF: the runner could not build the ruleset (it reports why) or died.
        int fd = warden_recv_fd(spec->landlock_sock);
        if (fd < 0) {
            errno = -fd;
            fail(spec, WARDEN_STAGE_LANDLOCK_RECEIVE);
        }
        spec->landlock_fd = fd;
    }
    if (spec->landlock_sock >= 0) {
        if (spec->landlock_sock != spec->notify_sock && spec->landlock_sock != spec->command_sock)
            close(spec->landlock_sock);
        spec->landlock_sock = -1;
    }
    if (spec->n_child_rules && spec->landlock_fd >= 0) add_child_rules(spec);
    if (spec->use_init) run_init(spec);
    drop_capabilities(spec);
    become_agent(spec);
}

int warden_new_netns(void) {
    if (unshare(CLONE_NEWNET) < 0) return -errno;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int warden_overlay_fsmount(const char *lower, const char *upper, const char *work) {
    enum { SET_FLAG = 0, SET_STRING = 1, CMD_CREATE = 6 };
    int fs = (int)syscall(430 /* fsopen */, "overlay", 1 /* FSOPEN_CLOEXEC */);
    if (fs < 0) return -errno;
    // One value per call: no option string, so no comma or colon escaping either.
    const char *strings[][2] = {{"lowerdir", lower}, {"upperdir", upper}, {"workdir", work}, {"index", "off"},
                                {"xino", "off"}, {"redirect_dir", "off"}, {"metacopy", "off"}};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        if (syscall(431 /* fsconfig */, fs, SET_STRING, strings[i][0], strings[i][1], 0) < 0) goto fail;
    }
    if (syscall(431, fs, SET_FLAG, "volatile", NULL, 0) < 0) goto fail;
    if (syscall(431, fs, CMD_CREATE, NULL, NULL, 0) < 0) goto fail;
    int mnt = (int)syscall(432 /* fsmount */, fs, 1 /* FSMOUNT_CLOEXEC */, WARDEN_ATTR_NOX);
    if (mnt < 0) goto fail;
    close(fs);
    return mnt;
fail:;
    int err = errno;
    close(fs);
    return -err;
}

pid_t warden_spawn(const struct warden_spec *spec) {
    // A raw clone rather than fork(): no atfork handlers run in a copy of a Swift process,
    // and namespace flags apply to the child directly.
    long pid = syscall(SYS_clone, spec->clone_flags | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) return -errno;
    if (pid == 0) child_main(spec);
    return (pid_t)pid;
}

static volatile pid_t forward_pid;

static void runner_forward(int sig) {
    if (forward_pid > 0) kill(forward_pid, sig);
}

void warden_forward_signals(pid_t pid) {
    forward_pid = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pid > 0 ? runner_forward : SIG_DFL;
    sa.sa_flags = SA_RESTART;
    const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &sa, NULL);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int warden_wait_readable(int fd, int other, int64_t timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    for (;;) {
        int wait_ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0) return 1;
            wait_ms = left > 0x7fffffff ? 0x7fffffff : (int)left;
        }
        struct pollfd p[2] = {{fd, POLLIN, 0}, {other, POLLIN, 0}};
        int rc = poll(p, other >= 0 ? 2 : 1, wait_ms);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return -errno;
        if (rc == 0) continue;
        return p[0].revents ? 0 : 2;
    }
}

int warden_wait(pid_t pid, int64_t timeout_ms, int *status) {
    return warden_wait_fd(pid, -1, timeout_ms, status);
}

int warden_wait_fd(pid_t pid, int fd, int64_t timeout_ms, int *status) {
    int pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
    if (pidfd < 0) return -errno;
    // The pid first: 2 only while it is still running.
    int rc = warden_wait_readable(pidfd, fd, timeout_ms);
    close(pidfd);
    if (rc != 0) return rc;
    for (;;) {
        pid_t w = waitpid(pid, status, __WALL);
        if (w == pid) return 0;
        if (w < 0 && errno != EINTR) return -errno;
    }
}
