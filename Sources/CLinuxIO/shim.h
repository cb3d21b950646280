// Starling — the Linux calls of the SE's L4 fast path (Sources/SE/DataPlane/L4EventLoop.swift,
// FastL4.swift) that Swift's Glibc module does not bring: epoll, eventfd and accept4.
#ifndef STARLING_CLINUXIO_SHIM_H
#define STARLING_CLINUXIO_SHIM_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>

// Declared by <sys/socket.h> only under _GNU_SOURCE, which would give its types other definitions than
// Swift's Glibc module has.
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

/// accept4 with the flags of a proxied connection (non-blocking, closed on exec).
static inline int starling_accept_nonblocking(int fd) {
    return accept4(fd, (struct sockaddr *)0, (socklen_t *)0, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/// Names the calling thread (up to 15 bytes; prctl is variadic, so not callable from Swift).
static inline int starling_name_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

#endif
