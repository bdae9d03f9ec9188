#ifndef CFILEOPS_H
#define CFILEOPS_H

#include <stdint.h>
#include <sys/xattr.h> // lgetxattr, which the Glibc module does not export

/// openat2(2), which glibc does not wrap: the gate opens everything relative to a directory
/// fd with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS. Returns an fd or -errno.
int warden_openat2(int dirfd, const char *path, int flags, uint32_t mode, uint64_t resolve);

/// The resolve flags the gate always uses.
uint64_t warden_resolve_strict(void);

/// renameat2(2) with flags (RENAME_NOREPLACE, RENAME_EXCHANGE). Returns 0 or -errno.
int warden_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, uint32_t flags);

/// syncfs(2) (a GNU extension the Glibc module does not export). Returns 0 or -errno.
int warden_syncfs(int fd);

#endif
