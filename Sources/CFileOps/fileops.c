// Two syscalls glibc has no wrapper for (or only a recent one), called through syscall(2),
// which Swift cannot call because it is variadic.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "cfileops.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int warden_openat2(int dirfd, const char *path, int flags, uint32_t mode, uint64_t resolve) {
    struct open_how how = {.flags = (uint64_t)flags, .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                           .resolve = resolve};
    long fd;
    do { fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how); } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : (int)fd;
}

uint64_t warden_resolve_strict(void) {
    return RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
}

int warden_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, uint32_t flags) {
    return syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags) < 0 ? -errno : 0;
}

int warden_syncfs(int fd) {
    return syncfs(fd) < 0 ? -errno : 0;
}
