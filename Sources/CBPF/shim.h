// Starling — C view of libbpf (Debian's libbpf-dev) for the FlowSteering module: loading the SE's tc
// steering program, attaching it through netlink (libbpf's bpf_tc_* calls) and reading its maps.
#ifndef STARLING_CBPF_SHIM_H
#define STARLING_CBPF_SHIM_H

#include <string.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>

/// bpf_tc_hook for the ingress side of interface `ifindex` (the macro form is not importable).
static inline struct bpf_tc_hook starling_tc_ingress_hook(int ifindex) {
    struct bpf_tc_hook hook;
    memset(&hook, 0, sizeof(hook));
    hook.sz = sizeof(hook);
    hook.ifindex = ifindex;
    hook.attach_point = BPF_TC_INGRESS;
    return hook;
}

/// bpf_tc_hook for the egress side of interface `ifindex`.
static inline struct bpf_tc_hook starling_tc_egress_hook(int ifindex) {
    struct bpf_tc_hook hook = starling_tc_ingress_hook(ifindex);
    hook.attach_point = BPF_TC_EGRESS;
    return hook;
}

/// bpf_tc_opts for our filter (handle 0x5354 'ST', priority 1), optionally for replacing one.
static inline struct bpf_tc_opts starling_tc_opts(int prog_fd) {
    struct bpf_tc_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.handle = 0x5354;
    opts.priority = 1;
    opts.prog_fd = prog_fd;
    return opts;
}

#endif
