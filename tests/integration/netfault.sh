# Network faults made with real tools (DESIGN.md "Network faults"; bash; source it after
# lib.sh, whose CLEANUPS take everything down at exit, even when a check failed):
#   netns_up NAME              a network namespace joined to the root one by a veth pair;
#                              sets NF_HOST (the root side's address) and NF_PEER (the
#                              namespace's) for the last one made
#   netns_run NAME CMD...      CMD inside the namespace
#   blackhole_on/off NAME      drop (silently: no reject, no RST) every packet on the pair
#   loss_on/off NAME PERCENT   drop PERCENT % of the packets, at random, both ways
#   rate_on/off NAME KBIT      a slow link (tc tbf), both ways
#   addr_add NAME / addr_move NAME   roaming: a second address in the namespace, then the
#                              old one removed and the new one the source (sets NF_PEER)
#   kill_sockets ADDR PORT [NAME]    ss -K on connections with that end (root namespace,
#                              or NAME's): the kernel's ECONNABORTED, not a network fault
# Names are per test: namespace hrf-$$-NAME, veths hrf$$a/b<N>, nft table inet hr_fault_$$,
# subnet 10.213.X.0/24 with X from $$ (the next free one when taken). No netem in this
# kernel: delay and jitter need a proxy. Needs root, ip, nft, tc and ss.

declare -A NF_NS NF_VH NF_VN NF_H NF_P NF_NEW
NF_N=0
NF_TABLE=hr_fault_$$
NF_TABLE_MADE=

# what remains of a test that was killed (SIGKILL runs no trap): its pid is gone
netfault_sweep() {
	local ns pid t
	for ns in $(ip netns list | awk '{print $1}' | grep '^hrf-[0-9]*-' || true); do
		pid=${ns#hrf-}
		pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null || ip netns del "$ns" 2>/dev/null || true
	done
	for t in $(nft list tables 2>/dev/null | sed -n 's/^table inet hr_fault_\([0-9]*\)$/\1/p'); do
		kill -0 "$t" 2>/dev/null || nft delete table inet "hr_fault_$t" 2>/dev/null || true
	done
}

netfault_need() {
	need ip nft tc ss
	[ "$(id -u)" -eq 0 ] || { fail "network faults need root (namespaces, nft, tc)"; exit 1; }
}

# a /24 of 10.213.0.0/16 that no interface uses, from $$ (parallel tests get different ones)
netfault_subnet() {
	local i x used
	used=$(ip -4 -o addr show)
	for i in $(seq 0 255); do
		x=$(((($$ + NF_N * 37 + i) % 254) + 1))
		[[ $used == *" 10.213.$x."* ]] || { echo "$x"; return; }
	done
	return 1
}

netns_up() {
	local name=$1 x
	[[ $name =~ ^[a-z0-9_]{1,12}$ ]] || { fail "netns_up: '$name' is not [a-z0-9_]{1,12}"; exit 1; }
	[ "$NF_N" -gt 0 ] || { netfault_need; netfault_sweep; }
	NF_N=$((NF_N + 1))
	x=$(netfault_subnet) || { fail "no free subnet in 10.213.0.0/16"; exit 1; }
	NF_NS[$name]=hrf-$$-$name
	NF_VH[$name]=hrf$$a$NF_N
	NF_VN[$name]=hrf$$b$NF_N
	NF_H[$name]=10.213.$x.1
	NF_P[$name]=10.213.$x.2
	NF_NEW[$name]=10.213.$x.3
	CLEANUPS+=("ip netns del ${NF_NS[$name]} 2>/dev/null; ip link del ${NF_VH[$name]} 2>/dev/null")
	ip netns add "${NF_NS[$name]}"
	ip link add "${NF_VH[$name]}" type veth peer name "${NF_VN[$name]}" netns "${NF_NS[$name]}"
	ip addr add "${NF_H[$name]}/24" dev "${NF_VH[$name]}"
	ip link set "${NF_VH[$name]}" up
	netns_run "$name" sysctl -qw "net.ipv4.conf.${NF_VN[$name]}.promote_secondaries=1"
	netns_run "$name" ip addr add "${NF_P[$name]}/24" dev "${NF_VN[$name]}"
	netns_run "$name" ip link set "${NF_VN[$name]}" up
	netns_run "$name" ip link set lo up
	NF_HOST=${NF_H[$name]}
	NF_PEER=${NF_P[$name]}
	wait_for 5 netns_run "$name" python3 -c "$NF_REACH" "$NF_HOST" || { fail "netns $name: $NF_HOST does not answer"; exit 1; }
	say "netfault: namespace ${NF_NS[$name]}: $NF_PEER <-> $NF_HOST (root, ${NF_VH[$name]})"
}

# reachable: a TCP connect to port 9 (discard; nothing listens) comes back refused
NF_REACH='import socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=1)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)'

netns_run() {
	local name=$1
	shift
	ip netns exec "${NF_NS[$name]}" "$@"
}

# nft_chains NAME KIND RULE: two base chains (in, out) of our table with RULE after the
# interface match; nft_drop NAME KIND: removes them
nft_chains() {
	local name=$1 kind=$2 rule=$3 dev=${NF_VH[$1]}
	nft add table inet "$NF_TABLE"
	[ -n "$NF_TABLE_MADE" ] || {
		NF_TABLE_MADE=1
		CLEANUPS+=("nft delete table inet $NF_TABLE 2>/dev/null")
	}
	nft_drop "$name" "$kind"
	nft -f - <<EOF
table inet $NF_TABLE {
	chain ${kind}_${name}_in { type filter hook input priority -10; policy accept; iifname "$dev" $rule; }
	chain ${kind}_${name}_out { type filter hook output priority -10; policy accept; oifname "$dev" $rule; }
}
EOF
}
nft_drop() {
	nft delete chain inet "$NF_TABLE" "${2}_${1}_in" 2>/dev/null || true
	nft delete chain inet "$NF_TABLE" "${2}_${1}_out" 2>/dev/null || true
}

blackhole_on() {
	nft_chains "$1" bh drop
	say "netfault: blackhole on: every packet between ${NF_NS[$1]} and the root namespace dropped"
}
blackhole_off() {
	nft_drop "$1" bh
	say "netfault: blackhole off (${NF_NS[$1]})"
}

loss_on() {
	nft_chains "$1" loss "numgen random mod 100 < $2 drop"
	say "netfault: loss on: $2 % of packets dropped each way (${NF_NS[$1]})"
}
loss_off() {
	nft_drop "$1" loss
	say "netfault: loss off (${NF_NS[$1]})"
}

# tbf on both ends' egress: burst 1/8 s of the rate (at least 4 KiB), 200 ms of queue
rate_on() {
	local name=$1 kbit=$2 burst
	burst=$((kbit * 1000 / 8 / 8))
	[ "$burst" -ge 4096 ] || burst=4096
	tc qdisc replace dev "${NF_VH[$name]}" root tbf rate "${kbit}kbit" burst "$burst" latency 200ms
	netns_run "$name" tc qdisc replace dev "${NF_VN[$name]}" root tbf rate "${kbit}kbit" burst "$burst" latency 200ms
	say "netfault: rate on: ${kbit} kbit/s each way (${NF_NS[$name]})"
}
rate_off() {
	tc qdisc del dev "${NF_VH[$1]}" root 2>/dev/null || true
	netns_run "$1" tc qdisc del dev "${NF_VN[$1]}" root 2>/dev/null || true
	say "netfault: rate off (${NF_NS[$1]})"
}

addr_add() {
	netns_run "$1" ip addr add "${NF_NEW[$1]}/24" dev "${NF_VN[$1]}"
	say "netfault: ${NF_NS[$1]} also has ${NF_NEW[$1]} (still sending from ${NF_P[$1]})"
}
# the old address goes (its connections with it), the new one is the source from now on
addr_move() {
	local name=$1 old=${NF_P[$1]} new=${NF_NEW[$1]}
	netns_run "$name" ip addr del "$old/24" dev "${NF_VN[$name]}"
	# promote_secondaries made the new one primary; without it, it went with the old one
	[[ $(netns_run "$name" ip -4 -o addr show dev "${NF_VN[$name]}") == *"inet $new/"* ]] ||
		netns_run "$name" ip addr add "$new/24" dev "${NF_VN[$name]}"
	netns_run "$name" ip route replace "${NF_H[$name]%.*}.0/24" dev "${NF_VN[$name]}" src "$new"
	NF_P[$name]=$new
	NF_NEW[$name]=$old
	NF_PEER=$new
	say "netfault: ${NF_NS[$name]} moved from $old to $new"
}

kill_sockets() {
	local addr=$1 port=$2 ns=() n
	[ $# -lt 3 ] || ns=(ip netns exec "${NF_NS[$3]}")
	n=$("${ns[@]}" ss -Htn -K state established "( src $addr and sport = :$port ) or ( dst $addr and dport = :$port )" | wc -l)
	say "netfault: killed $n socket(s) with an end at $addr:$port${3:+ in ${NF_NS[$3]}}"
}
