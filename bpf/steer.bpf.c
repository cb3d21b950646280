// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0-only)
// Starling's packet steering on a Service Engine's data interface: a tc clsact ingress program
// (direct action). Built by the SE target's build plugin with clang -target bpf; loaded and attached by
// `FlowSteering` (Sources/SE/Steering) through libbpf. What it does and why: Sources/SE/README.md
// "Flow steering".
//
// For a TCP packet to a VIP:port listed in `vips`:
// - chain mode (BGP/ECMP, and native secondaries): a SYN, or a packet of a connection this SE holds
//   (the kernel's own socket table: bpf_skc_lookup_tcp, which also finds request and time-wait sockets,
//   plus syncookie ACKs), is delivered here. Any other packet belongs to a connection another SE holds:
//   the router's hash moved it. It goes at layer 2 to the next live member of the SE list after the
//   sender's position (position -1 when it came from the router), so it visits each member at most
//   once and reaches the one that owns it; past the last member it is delivered here and the kernel
//   answers with a reset.
// - native primary: new flows are spread by a bucket table (weighted rendezvous hash computed by the
//   SE); a flow table pins every flow to its owner while the bucket table changes.
// Forwarded packets get their IPv4 TTL / IPv6 hop limit lowered by one, as a router would: a bound on
// any loop while two SEs disagree about the member list.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_MEMBERS 16
#define BUCKETS 256
#define MAX_VIPS 64
#define NO_MEMBER 0xffffffffu
#define AF_INET 2
#define AF_INET6 10

enum mode { MODE_CHAIN = 1, MODE_PRIMARY = 2 };

enum stat {
    STAT_VIP_PACKETS = 0,   // TCP packets to a steered VIP:port
    STAT_LOCAL = 1,         // delivered here
    STAT_CHAIN_FORWARD = 2, // a connection this SE does not hold: sent to the next member
    STAT_CHAIN_END = 3,     // no member left after this one: delivered here (the kernel resets)
    STAT_NEW_FORWARD = 4,   // primary: a new flow the bucket table gave to another member
    STAT_FLOW_FORWARD = 5,  // primary: a packet of a flow the flow table pins to another member
    STAT_HOP_LIMIT = 6,     // dropped: TTL / hop limit would reach 0 (a forwarding loop)
    STAT_GONE_OWNER = 7,    // primary: the flow's owner left the member list; asked along the chain
    STAT_HEARTBEATS = 8,    // heartbeats seen from members (their MAC learned)
    STAT_RETURN_TO_PRIMARY = 9, // egress, secondary: a reply of a native VIP sent to its primary's MAC
    STAT_RETURN_RELAYED = 10,   // ingress, primary: a secondary's reply sent on to the client
    STAT_COUNT = 11,
};

struct settings {
    __u32 ifindex;        // the data interface (where forwarded packets leave)
    __u32 self;           // this SE's position in `members`
    __u32 heartbeat_port; // UDP port of SE-to-SE heartbeats (host order)
    __u32 flags;          // SETTING_RETURN_VIA_PRIMARY
};

// Native VIPs' replies go from a secondary to the primary, which sends them on (Avi's OpenStack mode, for
// networks that let only the primary's port source the VIP); otherwise straight to the client.
#define SETTING_RETURN_VIA_PRIMARY 1u

struct member {
    __u32 family; // AF_INET / AF_INET6; 0: not live (skipped)
    __u32 addr[4];
};

struct vip_key {
    __u32 addr[4];
    __u16 port; // network order
    __u8 family;
    __u8 pad;
};

struct vip_value {
    __u32 mode; // enum mode
    __u32 slot; // bucket table slot (primary)
    __u32 mask; // the members that serve this VIP (bit = position): the only ones it is forwarded to
    __u32 primary; // native: the primary's position (NO_MEMBER: none, or an ECMP VIP)
};

struct flow_key {
    __u32 saddr[4];
    __u32 daddr[4];
    __u16 sport;
    __u16 dport;
    __u32 family;
};

struct flow_value {
    __u32 member;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct settings);
} settings SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MAX_MEMBERS);
    __type(key, __u32);
    __type(value, struct member);
} members SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_VIPS);
    __type(key, struct vip_key);
    __type(value, struct vip_value);
} vips SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MAX_VIPS * BUCKETS);
    __type(key, __u32);
    __type(value, __u32);
} buckets SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 131072); // set by the loader (flow_table_size)
    __type(key, struct flow_key);
    __type(value, struct flow_value);
} flows SEC(".maps");

// Source MAC (6 bytes in a u64) -> member position, learned from heartbeats.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MAX_MEMBERS * 4);
    __type(key, __u64);
    __type(value, __u32);
} peer_macs SEC(".maps");

// Each member's MAC by position (learned with peer_macs): for a packet whose family differs from the
// member's address (an IPv6 VIP among members known by IPv4), forwarded by rewriting the MACs.
struct member_mac {
    __u8 mac[6];
    __u8 known;
    __u8 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MAX_MEMBERS);
    __type(key, __u32);
    __type(value, struct member_mac);
} member_macs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} stats SEC(".maps");

// Packets forwarded to each member position.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MAX_MEMBERS);
    __type(key, __u32);
    __type(value, __u64);
} forwarded SEC(".maps");

static __always_inline void count(__u32 which) {
    __u64 *value = bpf_map_lookup_elem(&stats, &which);
    if (value) *value += 1;
}

static __always_inline __u64 mac_key(const unsigned char *mac) {
    __u64 key = 0;
    __builtin_memcpy(&key, mac, 6);
    return key;
}

static __always_inline __u32 mix(__u32 h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static __always_inline __u32 flow_hash(const struct flow_key *k) {
    __u32 h = 0x9e3779b9u;
    h = mix(h ^ k->saddr[0]);
    h = mix(h ^ k->saddr[1]);
    h = mix(h ^ k->saddr[2]);
    h = mix(h ^ k->saddr[3]);
    h = mix(h ^ ((__u32)k->sport << 16 | k->dport));
    return h;
}

// Sends the packet to member `position` at layer 2 (the kernel resolves its MAC). The caller has
// lowered the TTL / hop limit.
static __always_inline int forward(struct __sk_buff *skb, __u32 ifindex, __u32 position, __u32 family) {
    struct member *m = bpf_map_lookup_elem(&members, &position);
    if (!m || m->family == 0) return TC_ACT_OK;
    if (m->family != family) {
        // The neighbour lookup needs a next hop of the packet's family: rewrite the MACs instead (this SE's
        // MAC, the one the packet came to, becomes the source), and send it out of the interface.
        struct member_mac *mm = bpf_map_lookup_elem(&member_macs, &position);
        if (!mm || !mm->known) return TC_ACT_OK;
        __u8 self_mac[6];
        if (bpf_skb_load_bytes(skb, 0, self_mac, 6) < 0) return TC_ACT_OK;
        if (bpf_skb_store_bytes(skb, 0, mm->mac, 6, 0) < 0) return TC_ACT_SHOT;
        if (bpf_skb_store_bytes(skb, 6, self_mac, 6, 0) < 0) return TC_ACT_SHOT;
        __u64 *n = bpf_map_lookup_elem(&forwarded, &position);
        if (n) *n += 1;
        return bpf_redirect(ifindex, 0);
    }
    struct bpf_redir_neigh nh = {};
    nh.nh_family = m->family;
    if (m->family == AF_INET) {
        nh.ipv4_nh = m->addr[0];
    } else {
        nh.ipv6_nh[0] = m->addr[0];
        nh.ipv6_nh[1] = m->addr[1];
        nh.ipv6_nh[2] = m->addr[2];
        nh.ipv6_nh[3] = m->addr[3];
    }
    __u64 *n = bpf_map_lookup_elem(&forwarded, &position);
    if (n) *n += 1;
    return bpf_redirect_neigh(ifindex, &nh, sizeof(nh), 0);
}

static __always_inline int is_member(__u32 position) {
    struct member *m = bpf_map_lookup_elem(&members, &position);
    return m && m->family != 0;
}

// The first live member of `mask` after `after` (-1: from the start), skipping `self`; NO_MEMBER when none.
static __always_inline __u32 next_member(int after, __u32 self, __u32 mask) {
    for (__u32 i = 0; i < MAX_MEMBERS; i++) {
        if ((int)i <= after || i == self || !(mask & (1u << i))) continue;
        __u32 key = i;
        struct member *m = bpf_map_lookup_elem(&members, &key);
        if (m && m->family != 0) return i;
    }
    return NO_MEMBER;
}

// Learns a member's MAC from its heartbeat (UDP to the heartbeat port from the member's address).
static __always_inline void learn(struct ethhdr *eth, __u32 family, const __u32 *saddr) {
    for (__u32 i = 0; i < MAX_MEMBERS; i++) {
        __u32 key = i;
        struct member *m = bpf_map_lookup_elem(&members, &key);
        if (!m || m->family != family) continue;
        if (m->addr[0] != saddr[0]) continue;
        if (family == AF_INET6 &&
            (m->addr[1] != saddr[1] || m->addr[2] != saddr[2] || m->addr[3] != saddr[3]))
            continue;
        __u64 mac = mac_key(eth->h_source);
        bpf_map_update_elem(&peer_macs, &mac, &key, BPF_ANY);
        struct member_mac mm = {};
        __builtin_memcpy(mm.mac, eth->h_source, 6);
        mm.known = 1;
        bpf_map_update_elem(&member_macs, &key, &mm, BPF_ANY);
        count(STAT_HEARTBEATS);
        return;
    }
}

// Does this SE hold the connection (an established, request or time-wait socket, or a valid
// syncookie ACK for its listener)?
static __always_inline int held_here(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 tuple_len,
                                     void *iph, __u32 iph_len, struct tcphdr *th) {
    struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, tuple, tuple_len, BPF_F_CURRENT_NETNS, 0);
    if (!sk) return 0;
    int held = sk->state != BPF_TCP_LISTEN;
    // The cookie check reads only the fixed TCP header (sequence and acknowledgment numbers).
    if (!held && th->ack && !th->syn && !th->rst)
        held = bpf_tcp_check_syncookie(sk, iph, iph_len, th, sizeof(struct tcphdr)) == 0;
    bpf_sk_release(sk);
    return held;
}

// Is anything listening here for this SYN (or holding its 5-tuple)? A SE whose process died keeps its
// kernel, this program and its addresses for a while: its SYNs go on to a member that can take them.
static __always_inline int listening_here(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 tuple_len) {
    struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, tuple, tuple_len, BPF_F_CURRENT_NETNS, 0);
    if (!sk) return 0;
    bpf_sk_release(sk);
    return 1;
}

SEC("tc")
int starling_steer(struct __sk_buff *skb) {
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end) return TC_ACT_OK;

    __u32 zero = 0;
    struct settings *cfg = bpf_map_lookup_elem(&settings, &zero);
    if (!cfg || cfg->ifindex == 0) return TC_ACT_OK;

    struct flow_key key = {};
    struct bpf_sock_tuple tuple = {};
    __u32 tuple_len;
    struct tcphdr *th;
    void *iph = eth + 1;
    __u32 iph_len;
    struct iphdr *ip4 = 0;
    struct ipv6hdr *ip6 = 0;

    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        ip4 = iph;
        if ((void *)(ip4 + 1) > data_end) return TC_ACT_OK;
        if (ip4->ihl != 5) return TC_ACT_OK;                        // options: leave to the kernel
        if (ip4->frag_off & bpf_htons(0x3fff)) return TC_ACT_OK;    // fragments: leave to the kernel
        iph_len = sizeof(*ip4);
        if (ip4->protocol == IPPROTO_UDP) {
            struct udphdr *uh = (void *)(ip4 + 1);
            if ((void *)(uh + 1) > data_end) return TC_ACT_OK;
            if (uh->dest == bpf_htons((__u16)cfg->heartbeat_port)) {
                __u32 s[4] = {ip4->saddr, 0, 0, 0};
                learn(eth, AF_INET, s);
            }
            return TC_ACT_OK;
        }
        if (ip4->protocol != IPPROTO_TCP) return TC_ACT_OK;
        th = (void *)(ip4 + 1);
        if ((void *)(th + 1) > data_end) return TC_ACT_OK;
        key.family = AF_INET;
        key.saddr[0] = ip4->saddr;
        key.daddr[0] = ip4->daddr;
        tuple.ipv4.saddr = ip4->saddr;
        tuple.ipv4.daddr = ip4->daddr;
        tuple.ipv4.sport = th->source;
        tuple.ipv4.dport = th->dest;
        tuple_len = sizeof(tuple.ipv4);
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        ip6 = iph;
        if ((void *)(ip6 + 1) > data_end) return TC_ACT_OK;
        iph_len = sizeof(*ip6);
        if (ip6->nexthdr == IPPROTO_UDP) {
            struct udphdr *uh = (void *)(ip6 + 1);
            if ((void *)(uh + 1) > data_end) return TC_ACT_OK;
            if (uh->dest == bpf_htons((__u16)cfg->heartbeat_port)) {
                __u32 s[4];
                __builtin_memcpy(s, &ip6->saddr, 16);
                learn(eth, AF_INET6, s);
            }
            return TC_ACT_OK;
        }
        if (ip6->nexthdr != IPPROTO_TCP) return TC_ACT_OK; // extension headers: leave to the kernel
        th = (void *)(ip6 + 1);
        if ((void *)(th + 1) > data_end) return TC_ACT_OK;
        key.family = AF_INET6;
        __builtin_memcpy(key.saddr, &ip6->saddr, 16);
        __builtin_memcpy(key.daddr, &ip6->daddr, 16);
        __builtin_memcpy(tuple.ipv6.saddr, &ip6->saddr, 16);
        __builtin_memcpy(tuple.ipv6.daddr, &ip6->daddr, 16);
        tuple.ipv6.sport = th->source;
        tuple.ipv6.dport = th->dest;
        tuple_len = sizeof(tuple.ipv6);
    } else {
        return TC_ACT_OK;
    }
    key.sport = th->source;
    key.dport = th->dest;

    struct vip_key vk = {};
    vk.family = (__u8)key.family;
    if (cfg->flags & SETTING_RETURN_VIA_PRIMARY) {
        // A reply from a native VIP this SE is the primary of, sent here by a secondary: on to the client,
        // by the routing table (the kernel would drop it: its source is a local address).
        vk.port = th->source;
        __builtin_memcpy(vk.addr, key.saddr, 16);
        struct vip_value *own = bpf_map_lookup_elem(&vips, &vk);
        if (own && own->mode == MODE_PRIMARY) {
            __u64 mac = mac_key(eth->h_source);
            if (bpf_map_lookup_elem(&peer_macs, &mac)) {
                count(STAT_RETURN_RELAYED);
                return bpf_redirect_neigh(cfg->ifindex, 0, 0, 0);
            }
        }
    }
    vk.port = th->dest;
    __builtin_memcpy(vk.addr, key.daddr, 16);
    struct vip_value *vip = bpf_map_lookup_elem(&vips, &vk);
    if (!vip) return TC_ACT_OK;
    count(STAT_VIP_PACKETS);

    int syn = th->syn && !th->ack;
    __u32 self = cfg->self;
    __u32 target;

    if (vip->mode == MODE_PRIMARY) {
        // A new flow goes where the bucket table says and is pinned there (a SYN always re-buckets: a
        // stale pin of a reused 5-tuple must not send it to a member that left).
        if (syn) {
            __u32 slot = vip->slot;
            if (slot >= MAX_VIPS) return TC_ACT_OK;
            __u32 b = slot * BUCKETS + (flow_hash(&key) & (BUCKETS - 1));
            __u32 *owner = bpf_map_lookup_elem(&buckets, &b);
            target = owner ? *owner : self;
            if (target >= MAX_MEMBERS || !is_member(target)) target = self;
            if (target == self && !listening_here(skb, &tuple, tuple_len)) {
                __u32 other = next_member(-1, self, vip->mask);
                if (other != NO_MEMBER) target = other;
            }
            struct flow_value nv = {.member = target};
            bpf_map_update_elem(&flows, &key, &nv, BPF_ANY);
            if (target == self) {
                count(STAT_LOCAL);
                return TC_ACT_OK;
            }
            count(STAT_NEW_FORWARD);
        } else {
            struct flow_value *fv = bpf_map_lookup_elem(&flows, &key);
            target = fv ? fv->member : NO_MEMBER;
            if (target == self || held_here(skb, &tuple, tuple_len, iph, iph_len, th)) {
                count(STAT_LOCAL);
                return TC_ACT_OK;
            }
            if (target < MAX_MEMBERS && is_member(target)) {
                count(STAT_FLOW_FORWARD);
            } else {
                // Not pinned (this SE took the VIP over, or the table forgot the flow) or pinned to a
                // member that left: ask the members in turn (the one holding it keeps it).
                if (fv) count(STAT_GONE_OWNER);
                target = next_member(-1, self, vip->mask);
                if (target == NO_MEMBER) {
                    count(STAT_CHAIN_END);
                    return TC_ACT_OK;
                }
                count(STAT_CHAIN_FORWARD);
            }
        }
    } else {
        if (syn ? listening_here(skb, &tuple, tuple_len) : held_here(skb, &tuple, tuple_len, iph, iph_len, th)) {
            count(STAT_LOCAL);
            return TC_ACT_OK;
        }
        // Daisy chain (a connection held elsewhere, or a SYN nothing listens for here): from the router, to
        // the first member; from a member, on to the next position after this one. Positions only go up
        // after the first hop, so the chain ends.
        __u64 mac = mac_key(eth->h_source);
        int from_member = bpf_map_lookup_elem(&peer_macs, &mac) != 0;
        target = next_member(from_member ? (int)self : -1, self, vip->mask);
        if (target == NO_MEMBER) {
            count(STAT_CHAIN_END);
            return TC_ACT_OK;
        }
        count(STAT_CHAIN_FORWARD);
    }

    // Lower the TTL / hop limit as a router hop would; drop at the end of it.
    data = (void *)(long)skb->data;
    data_end = (void *)(long)skb->data_end;
    if (key.family == AF_INET) {
        struct iphdr *h = data + sizeof(struct ethhdr);
        if ((void *)(h + 1) > data_end) return TC_ACT_SHOT;
        if (h->ttl <= 1) {
            count(STAT_HOP_LIMIT);
            return TC_ACT_SHOT;
        }
        __u32 check = h->check;
        check += bpf_htons(0x0100);
        h->check = (__u16)(check + (check >= 0xffff));
        h->ttl -= 1;
    } else {
        struct ipv6hdr *h = data + sizeof(struct ethhdr);
        if ((void *)(h + 1) > data_end) return TC_ACT_SHOT;
        if (h->hop_limit <= 1) {
            count(STAT_HOP_LIMIT);
            return TC_ACT_SHOT;
        }
        h->hop_limit -= 1;
    }
    return forward(skb, cfg->ifindex, target, key.family);
}

// Egress: on a secondary with SETTING_RETURN_VIA_PRIMARY, a reply from a native VIP goes to the primary's
// MAC instead of the client's next hop (the primary sends it on).
SEC("tc")
int starling_return(struct __sk_buff *skb) {
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end) return TC_ACT_OK;
    __u32 zero = 0;
    struct settings *cfg = bpf_map_lookup_elem(&settings, &zero);
    if (!cfg || !(cfg->flags & SETTING_RETURN_VIA_PRIMARY)) return TC_ACT_OK;

    struct vip_key vk = {};
    struct tcphdr *th;
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip4 = (void *)(eth + 1);
        if ((void *)(ip4 + 1) > data_end || ip4->ihl != 5 || ip4->protocol != IPPROTO_TCP) return TC_ACT_OK;
        th = (void *)(ip4 + 1);
        if ((void *)(th + 1) > data_end) return TC_ACT_OK;
        vk.family = AF_INET;
        vk.addr[0] = ip4->saddr;
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = (void *)(eth + 1);
        if ((void *)(ip6 + 1) > data_end || ip6->nexthdr != IPPROTO_TCP) return TC_ACT_OK;
        th = (void *)(ip6 + 1);
        if ((void *)(th + 1) > data_end) return TC_ACT_OK;
        vk.family = AF_INET6;
        __builtin_memcpy(vk.addr, &ip6->saddr, 16);
    } else {
        return TC_ACT_OK;
    }
    vk.port = th->source;
    struct vip_value *vip = bpf_map_lookup_elem(&vips, &vk);
    if (!vip || vip->mode != MODE_CHAIN || vip->primary >= MAX_MEMBERS || vip->primary == cfg->self)
        return TC_ACT_OK;
    __u32 primary = vip->primary;
    struct member_mac *mm = bpf_map_lookup_elem(&member_macs, &primary);
    if (!mm || !mm->known || !is_member(primary)) return TC_ACT_OK;
    if (bpf_skb_store_bytes(skb, 0, mm->mac, 6, 0) < 0) return TC_ACT_OK;
    count(STAT_RETURN_TO_PRIMARY);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
