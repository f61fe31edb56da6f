/* A disk whose synchronous writes are slow, for one lab node (tests/lab/parity_faults.py slow_disk_sync).
 * Preloaded (/etc/ld.so.preload), it remembers which descriptors were opened with O_DSYNC or O_SYNC and
 * makes each write() to them (or to their dup2/dup3 copies) take SLOW_DSYNC_MS longer - what a disk slow to flush does to etcd's WAL or to
 * `dd oflag=dsync`. Every other call passes straight through, without an added syscall (sshd's sandbox). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOW_DSYNC_MS 40
#define MAX_FD 4096

static unsigned char synced[MAX_FD];
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

/* Resolved on first use, not in a constructor: another library's constructor (libselinux's, in sshd) may
 * open a file before this library's constructor ran. */
static void *next(void **slot, const char *name) {
    if (!*slot)
        *slot = dlsym(RTLD_NEXT, name);
    return *slot;
}
#define REAL(name) ((__typeof__(real_##name))next((void **)&real_##name, #name))

/* sshd is left alone, as faults.clock_off leaves it out of libfaketime (its sandboxed child); what its
 * sessions start is not. */
static int exempt(void) {
    return strcmp(program_invocation_short_name, "sshd") == 0;
}

static int mark(int fd, int flags) {
    if (fd >= 0 && fd < MAX_FD && !exempt())
        synced[fd] = (flags & O_DSYNC) != 0;
    return fd;
}

static mode_t mode_of(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = mode_of(flags, ap); va_end(ap);
    return mark(REAL(open)(path, flags, m), flags);
}

int open64(const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = mode_of(flags, ap); va_end(ap);
    return mark(REAL(open64)(path, flags, m), flags);
}

int openat(int dir, const char *path, int flags, ...) {
    va_list ap; va_start(ap, flags); mode_t m = mode_of(flags, ap); va_end(ap);
    return mark(REAL(openat)(dir, path, flags, m), flags);
}

/* dd opens its output and moves it onto descriptor 1: the mark moves with it */
static int copy_mark(int from, int to) {
    if (to >= 0 && to < MAX_FD)
        synced[to] = from >= 0 && from < MAX_FD && synced[from];
    return to;
}

int dup2(int from, int to) { return copy_mark(from, REAL(dup2)(from, to)); }

int dup3(int from, int to, int flags) { return copy_mark(from, REAL(dup3)(from, to, flags)); }

ssize_t write(int fd, const void *buf, size_t n) {
    if (fd >= 0 && fd < MAX_FD && synced[fd]) {
        struct timespec t = {0, SLOW_DSYNC_MS * 1000000L};
        nanosleep(&t, NULL);
    }
    return REAL(write)(fd, buf, n);
}
