# Sourced by the e2e tests that run stream_peer: a namespace of the test's own whose TUN device
# stun0 (198.18.7.1/24) carries everything for 198.18.7.0/24 to stream_peer, which attaches to
# it by name. Deleting the namespace removes the device.
#   tun_ns NS    create NS and its device
#   nsx CMD...   run CMD in "$ns"
tun_ns() {
	ns=$1
	ip netns add "$ns"
	nsx ip link set lo up
	nsx ip tuntap add dev stun0 mode tun
	nsx ip addr add 198.18.7.1/24 dev stun0
	nsx ip link set stun0 up
}
nsx() { ip netns exec "$ns" "$@"; }
