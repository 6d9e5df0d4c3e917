#!/usr/bin/env python3
"""Write the packet captures the Pktgen scripts send: a SYN flood from random sources and a mix
of malformed frames, each with a JSON file of what the gateway must count for it.

    perf/pktgen/make-pcaps.py [--out DIR] [--dst-mac MAC] [--src-mac MAC] [--vip ADDR]
                              [--syns N] [--malformed-rounds N] [--seed N]
    perf/pktgen/make-pcaps.py --rewrite-macs IN OUT --dst-mac MAC --src-mac MAC

Frames go from --src-mac to --dst-mac (the gateway's client port: set it to the port's MAC, or
let the sender rewrite it). Sources of the flood come from 198.18.128.0/17, the benchmarking
range; nothing here is routable. The whole HTTP flows for replay are captured from the load
generator instead (perf/pktgen/http-flows.sh), since their ACKs carry the gateway's cookies.
"""
import argparse
import json
import os
import random
import struct

ETH_IPV4, ETH_ARP, ETH_VLAN = 0x0800, 0x0806, 0x8100


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ttl=64, ihl=5, options=b"", frag=0x4000, version=4,
         total=None, good_csum=True):
    total = 4 * ihl + len(payload) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", version << 4 | ihl, 0, total, 0x1234, frag, ttl, proto, 0,
                    src, dst) + options
    if good_csum:
        c = csum(h)
    else:
        c = (csum(h) + 1) & 0xFFFF or 1
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", options=b"", doff=None,
        good_csum=True, window=64240):
    doff = (20 + len(options)) // 4 if doff is None else doff
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, window, 0, 0)
    seg = h + options + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    if not good_csum:
        c = (c + 1) & 0xFFFF or 1
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def eth(dst, src, etype, payload, vlans=()):
    b = dst + src
    for tci in vlans:
        b += struct.pack("!HH", ETH_VLAN, tci)
    return b + struct.pack("!H", etype) + payload


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
MSS = b"\x02\x04\x05\xb4"


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    if struct.unpack(end + "I", data[20:24])[0] != 1:
        raise SystemExit(f"{path}: not an Ethernet capture")
    frames, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rewrite-macs", nargs=2, metavar=("IN", "OUT"),
                    help="only copy capture IN to OUT with --src-mac and --dst-mac")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--dst-mac", default="02:00:00:00:00:01")
    ap.add_argument("--src-mac", default="02:00:00:00:00:02")
    ap.add_argument("--vip", default="198.18.0.10")
    ap.add_argument("--client", default="198.18.0.2", help="source of the malformed frames")
    ap.add_argument("--syns", type=int, default=65536)
    ap.add_argument("--malformed-rounds", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    dm, sm, vip, cl = mac(a.dst_mac), mac(a.src_mac), ip4(a.vip), ip4(a.client)
    if a.rewrite_macs:
        write_pcap(a.rewrite_macs[1], [dm + sm + fr[12:] for fr in read_pcap(a.rewrite_macs[0])])
        return

    # SYN flood: random sources in 198.18.128.0/17, random ports and ISNs, MSS 1460.
    frames = []
    for _ in range(a.syns):
        src = struct.pack("!I", (198 << 24 | 18 << 16 | 128 << 8) + rnd.randrange(1, 32767))
        sport = rnd.randrange(1024, 65536)
        seg = tcp(src, vip, sport, 80, rnd.getrandbits(32), 0, SYN, options=MSS)
        frames.append(eth(dm, sm, ETH_IPV4, ipv4(src, vip, 6, seg)))
    write_pcap(os.path.join(a.out, "syn-flood.pcap"), frames)
    with open(os.path.join(a.out, "syn-flood.json"), "w") as f:
        json.dump({"frames": len(frames), "expect": {"tcp_syn_in": len(frames)}}, f, indent=1)

    # Malformed mix: one frame per kind a round, each dropped under a known reason.
    def good_syn(**kw):
        return tcp(cl, vip, 40000, 80, 1, 0, SYN, options=MSS, **kw)

    kinds = {
        "eth_truncated": lambda: dm + sm[:4],
        "mac_bad_src": lambda: eth(dm, b"\x01" + sm[1:], ETH_IPV4, ipv4(cl, vip, 6, good_syn())),
        "vlan_too_deep": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn()),
                                     vlans=(1, 2, 3)),
        "vlan_truncated": lambda: dm + sm + struct.pack("!HH", ETH_VLAN, 5),
        "ethertype_unknown": lambda: eth(dm, sm, 0x88B5, b"\0" * 46),
        "arp_truncated": lambda: eth(dm, sm, ETH_ARP, b"\0\1\x08\0\6\4"),
        "arp_bad": lambda: eth(dm, sm, ETH_ARP, struct.pack("!HHBBH", 6, ETH_IPV4, 6, 4, 9)
                               + sm + cl + b"\0" * 6 + vip),
        "ipv4_truncated": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn())[:12]),
        "ipv4_bad_version": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn(),
                                                               version=6)),
        "ipv4_bad_ihl": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn(), ihl=4)),
        "ipv4_bad_total_len": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn(),
                                                                 total=1400)),
        "ipv4_bad_checksum": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn(),
                                                                good_csum=False)),
        "ipv4_fragment": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn(),
                                                            frag=0x2000)),
        "ipv4_options_bad": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn(), ihl=6,
                                                               options=b"\x07\x09\0\0")),
        "ipv4_bad_src": lambda: eth(dm, sm, ETH_IPV4, ipv4(ip4("224.0.0.9"), vip, 6, tcp(
            ip4("224.0.0.9"), vip, 40000, 80, 1, 0, SYN, options=MSS))),
        "ipv4_ttl_expired": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn(), ttl=0)),
        "tcp_truncated": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn()[:12])),
        "tcp_bad_doff": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, good_syn(doff=3))),
        "tcp_bad_checksum": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6,
                                                               good_syn(good_csum=False))),
        "tcp_bad_port": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, tcp(
            cl, vip, 0, 80, 1, 0, SYN, options=MSS))),
        "tcp_bad_flags": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, tcp(
            cl, vip, 40001, 80, 1, 0, SYN | FIN, options=MSS))),
        "tcp_bad_options": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 6, tcp(
            cl, vip, 40002, 80, 1, 0, SYN, options=b"\x02\x03\x05\xb4"))),
        "icmp_truncated": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 1, b"\x08\0\0\0")),
        "icmp_bad_checksum": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 1,
                                                                b"\x08\0\x12\x34\0\1\0\1")),
        "udp_truncated": lambda: eth(dm, sm, ETH_IPV4, ipv4(cl, vip, 17, b"\0\x35\0")),
    }
    frames, expect = [], {}
    for _ in range(a.malformed_rounds):
        order = list(kinds)
        rnd.shuffle(order)
        for k in order:
            frames.append(kinds[k]())
            expect[k] = expect.get(k, 0) + 1
    write_pcap(os.path.join(a.out, "malformed.pcap"), frames)
    with open(os.path.join(a.out, "malformed.json"), "w") as f:
        json.dump({"frames": len(frames), "expect": {"drops": expect}}, f, indent=1)


if __name__ == "__main__":
    main()
