#!/usr/bin/env python3
"""Impairment relay for the tests (this kernel has no netem): forwards Ethernet frames between
two interfaces of its namespace, dropping a fraction and swapping the order of some pairs.
Bounded: exits after --seconds. Usage: relay.py IF_A IF_B --loss 0.01 --reorder 0.01"""
import argparse, random, select, socket, time

ap = argparse.ArgumentParser()
ap.add_argument("a"); ap.add_argument("b")
ap.add_argument("--loss", type=float, default=0.01)
ap.add_argument("--reorder", type=float, default=0.01)
ap.add_argument("--seconds", type=float, default=120)
ap.add_argument("--seed", type=int, default=7)
args = ap.parse_args()
random.seed(args.seed)

ETH_P_ALL = 3
socks = {}
for name in (args.a, args.b):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((name, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    socks[name] = s
peer = {args.a: socks[args.b], args.b: socks[args.a]}
held = {args.a: None, args.b: None}
stats = {"fwd": 0, "drop": 0, "swap": 0}
end = time.time() + args.seconds
by_fd = {s.fileno(): n for n, s in socks.items()}
next_report = time.time() + 1
while time.time() < end:
    if time.time() >= next_report:
        print("relay:", stats, flush=True)
        next_report = time.time() + 1
    r, _, _ = select.select(list(socks.values()), [], [], 0.05)
    if not r:
        for n in held:  # flush a held frame when traffic pauses
            if held[n] is not None:
                peer[n].send(held[n]); held[n] = None
        continue
    for s in r:
        name = by_fd[s.fileno()]
        frame, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:
            continue  # our own transmissions seen on the socket
        is_arp = frame[12:14] == b"\x08\x06"
        if not is_arp and random.random() < args.loss:
            stats["drop"] += 1
            continue
        out = peer[name]
        if held[name] is not None:
            out.send(frame); out.send(held[name]); held[name] = None
            stats["swap"] += 1
        elif not is_arp and random.random() < args.reorder:
            held[name] = frame
        else:
            out.send(frame)
        stats["fwd"] += 1
print("relay:", stats, flush=True)
