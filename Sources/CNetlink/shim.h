// Starling — C view of libnl-3 / libnl-route-3 for the Netlink module.
//
// Only declarations Swift cannot express itself live here: a few static inline
// helpers over kernel structures and macros that the importer cannot see.
#ifndef STARLING_CNETLINK_SHIM_H
#define STARLING_CNETLINK_SHIM_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_addr.h>

#include <netlink/netlink.h>
#include <netlink/errno.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/addr.h>
#include <netlink/object.h>
#include <netlink/route/rtnl.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>

/// `IFA_PROTO` (Linux 6.3): the u8 "address protocol" attribute. Spelled as a
/// constant so the module also builds against older kernel headers.
#define STARLING_IFA_PROTO 11
/// `SOL_NETLINK` / `NETLINK_EXT_ACK` / `NETLINK_CAP_ACK` socket options.
#define STARLING_SOL_NETLINK 270
#define STARLING_NETLINK_CAP_ACK 10
#define STARLING_NETLINK_EXT_ACK 11

/// CLONE_NEWNET for setns(2) (glibc only defines it under _GNU_SOURCE).
#define STARLING_CLONE_NEWNET 0x40000000

/// eventfd(2) with EFD_CLOEXEC | EFD_NONBLOCK: the monitor's stop signal.
static inline int starling_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/// setns(2) through syscall(2): glibc only declares it under _GNU_SOURCE.
static inline int starling_setns(int fd, int nstype) {
    return (int)syscall(SYS_setns, fd, nstype);
}

/// The header of the netlink message that carries `err` (the kernel's
/// NLMSG_ERROR message: `struct nlmsghdr` immediately followed by `struct nlmsgerr`).
static inline const struct nlmsghdr *starling_nlmsgerr_header(const struct nlmsgerr *err) {
    return (const struct nlmsghdr *)((const char *)err - NLMSG_HDRLEN);
}

/// The extended-ACK text (NLMSGERR_ATTR_MSG) the kernel attached to an error, or NULL.
/// The TLVs follow the nlmsgerr and, unless NLM_F_CAPPED, the echoed request payload.
static inline const char *starling_nlmsgerr_extack_message(const struct nlmsgerr *err) {
    const struct nlmsghdr *nlh = starling_nlmsgerr_header(err);
    if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return NULL;
    size_t offset = sizeof(struct nlmsgerr);
    if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && err->msg.nlmsg_len > NLMSG_HDRLEN)
        offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
    offset = NLMSG_ALIGN(offset);
    if (nlh->nlmsg_len < NLMSG_HDRLEN) return NULL;
    size_t total = nlh->nlmsg_len - NLMSG_HDRLEN;
    if (offset >= total) return NULL;
    int remaining = (int)(total - offset);
    struct nlattr *attr = (struct nlattr *)((char *)err + offset);
    for (; nla_ok(attr, remaining); attr = nla_next(attr, &remaining)) {
        if (nla_type(attr) == NLMSGERR_ATTR_MSG && nla_len(attr) > 0) {
            const char *text = (const char *)nla_data(attr);
            if (memchr(text, 0, (size_t)nla_len(attr)) != NULL) return text;
            return NULL;
        }
    }
    return NULL;
}

/// NLMSG_OK / NLMSG_NEXT for walking a buffer read straight from the socket.
static inline int starling_nlmsg_ok(const struct nlmsghdr *nlh, size_t remaining) {
    return remaining >= sizeof(struct nlmsghdr) && nlh->nlmsg_len >= sizeof(struct nlmsghdr)
        && nlh->nlmsg_len <= remaining;
}
static inline size_t starling_nlmsg_aligned_length(const struct nlmsghdr *nlh) {
    return NLMSG_ALIGN(nlh->nlmsg_len);
}

#endif
