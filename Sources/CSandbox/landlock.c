#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

// Full-size attribute structs (ABI 6); the kernel accepts a larger struct when the fields it
// does not know are zero, so one layout serves every ABI.
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

const unsigned long warden_CLONE_NEWNS = CLONE_NEWNS;
const unsigned long warden_CLONE_NEWPID = CLONE_NEWPID;
const unsigned long warden_CLONE_NEWNET = CLONE_NEWNET;
const unsigned long warden_CLONE_NEWIPC = CLONE_NEWIPC;
const unsigned long warden_CLONE_NEWUSER = CLONE_NEWUSER;
const unsigned long warden_CLONE_NEWUTS = CLONE_NEWUTS;
const unsigned long warden_CLONE_NEWCGROUP = CLONE_NEWCGROUP;

int warden_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}

int warden_is_cgroup2(const char *path) {
    struct statfs fs;
    return statfs(path, &fs) == 0 && fs.f_type == 0x63677270; /* CGROUP2_SUPER_MAGIC */
}

int warden_memfd(const char *name) {
    int fd = (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */);
    return fd < 0 ? -errno : fd;
}

int warden_landlock_abi(void) {
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    return abi < 0 ? -errno : (int)abi;
}

int warden_landlock_create_ruleset(uint64_t fs, uint64_t net, uint64_t scoped) {
    struct ll_ruleset_attr attr = {fs, net, scoped};
    long fd = syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (fd < 0) return -errno;
    // The ruleset fd must not leak into the agent: it would let it stack its own rules
    // on our ruleset before we restrict (harmless) but it is one more inherited fd.
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return (int)fd;
}

int warden_landlock_add_path(int ruleset, const char *path, uint64_t access) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ll_path_beneath_attr attr = {access, fd};
    long rc = syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &attr, 0);
    int err = errno;
    close(fd);
    return rc < 0 ? -err : 0;
}

int warden_landlock_add_paths(int ruleset, const char *const *paths, const uint64_t *access, int n,
                              uint64_t file_mask, int *failed) {
    for (int i = 0; i < n; i++) {
        int rc = warden_landlock_add_path(ruleset, paths[i], access[i]);
        // A file where the plan saw a directory: only file rights apply to it now.
        if (rc == -EINVAL && (access[i] & ~file_mask)) rc = warden_landlock_add_path(ruleset, paths[i], access[i] & file_mask);
        // A path of the base read set that this machine lacks is not an error.
        if (rc == -ENOENT) continue;
        if (rc < 0) { *failed = i; return rc; }
    }
    return 0;
}

int warden_landlock_add_port(int ruleset, uint64_t port, uint64_t access) {
    struct ll_net_port_attr attr = {access, port};
    long rc = syscall(__NR_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &attr, 0);
    return rc < 0 ? -errno : 0;
}
