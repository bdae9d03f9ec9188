// The cost of the kernel mechanisms alone, for the workload rows of launch.py: runs CMD under
// a Landlock ruleset and a seccomp filter shaped like warden's (and nothing else: no
// namespaces, no cgroup, no supervisor, no audit), so that "warden vs bare" can be read
// against "these mechanisms vs bare". Not a sandbox: the rules are just enough for the
// workloads to run.
//
//   cc -O2 -o floor Benchmarks/floor.c -lseccomp
//   floor [landlock] [seccomp] -- CMD [ARGS...]
//
// Landlock: every filesystem right of the running ABI handled (as warden does), read and
// execute granted beneath /usr /bin /lib /lib64 /etc, read and write on /dev/null.
// Seccomp: arguments inspected for openat/open (write intent, as warden's supervisor rules
// are), ioctl and clone, a few dozen calls denied, the rest allowed; libseccomp's binary tree.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int die(const char *what) {
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    return 71;
}

static int landlock(void) {
    int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) return die("landlock ABI");
    // ABI 1: 13 rights; 2: +REFER; 3: +TRUNCATE; 5: +IOCTL_DEV.
    int bits = abi >= 5 ? 16 : abi >= 3 ? 15 : abi >= 2 ? 14 : 13;
    struct landlock_ruleset_attr attr = {.handled_access_fs = (1ULL << bits) - 1};
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (rs < 0) return die("landlock_create_ruleset");
    const char *trees[] = {"/usr", "/bin", "/lib", "/lib64", "/etc"};
    for (size_t i = 0; i < sizeof trees / sizeof *trees; i++) {
        struct landlock_path_beneath_attr rule = {
            .allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_EXECUTE,
            .parent_fd = open(trees[i], O_PATH | O_CLOEXEC)};
        if (rule.parent_fd < 0) continue;
        if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &rule, 0)) return die("landlock_add_rule");
        close(rule.parent_fd);
    }
    struct landlock_path_beneath_attr null = {
        .allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE,
        .parent_fd = open("/dev/null", O_PATH | O_CLOEXEC)};
    if (null.parent_fd < 0 || syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &null, 0))
        return die("landlock /dev/null");
    close(null.parent_fd);
    if (syscall(SYS_landlock_restrict_self, rs, 0)) return die("landlock_restrict_self");
    close(rs);
    return 0;
}

static int seccomp(void) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return die("seccomp_init");
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    const char *denied[] = {"mount", "umount2", "pivot_root", "chroot", "setns", "unshare", "acct", "bpf",
                            "ptrace", "process_vm_readv", "process_vm_writev", "kexec_load", "init_module",
                            "finit_module", "delete_module", "swapon", "swapoff", "reboot", "keyctl", "add_key",
                            "request_key", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
                            "io_uring_register", "settimeofday", "clock_settime", "adjtimex", "iopl", "ioperm",
                            "open_by_handle_at", "clone3"};
    for (size_t i = 0; i < sizeof denied / sizeof *denied; i++)
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), seccomp_syscall_resolve_name(denied[i]), 0);
    // Rules on arguments keep these calls out of the kernel's per-syscall allow cache, as
    // warden's write-intent rules do; here on flags the workloads never pass (O_TMPFILE,
    // O_ASYNC), since there is no supervisor to let a write of /dev/null through.
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, 0x400000, 0x400000));
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, 0x2000, 0x2000));
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0x400000, 0x400000));
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffff, 0x5412));
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, 0x10000000, 0x10000000));
    int rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc) {
        errno = -rc;
        return die("seccomp_load");
    }
    return 0;
}

int main(int argc, char **argv) {
    int i = 1, with_landlock = 0, with_seccomp = 0;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "landlock")) with_landlock = 1;
        else if (!strcmp(argv[i], "seccomp")) with_seccomp = 1;
        else {
            fprintf(stderr, "usage: floor [landlock] [seccomp] -- CMD [ARGS...]\n");
            return 64;
        }
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: floor [landlock] [seccomp] -- CMD [ARGS...]\n");
        return 64;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return die("no_new_privs");
    int rc;
    if (with_landlock && (rc = landlock())) return rc;
    if (with_seccomp && (rc = seccomp())) return rc;
    execvp(argv[i + 1], argv + i + 1);
    return die(argv[i + 1]);
}
