#!/usr/bin/env bash
# Integration test for certs/highrise-certs: runs the real script in a
# temporary directory and checks what it makes with the openssl CLI.
# Usage: test_certs.sh PATH/TO/highrise-certs   (ctest passes it)
# shellcheck disable=SC2016,SC2034 # the checks are eval'd later, in single quotes
set -u

tool=${1:?usage: test_certs.sh PATH/TO/highrise-certs}
[ -x "$tool" ] || { echo "test_certs: $tool is not executable" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/highrise-test-certs.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
d=$tmp/pki

passed=0
failed=0
ok() {
	passed=$((passed + 1))
	echo "ok: $*"
}
fail() {
	failed=$((failed + 1))
	echo "FAILED: $*" >&2
}
# check DESCRIPTION COMMAND...: passes when COMMAND succeeds
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
# run ARGS...: runs the tool; sets out, err and rc
run() {
	out=$("$tool" "$@" 2>"$tmp/stderr")
	rc=$?
	err=$(cat "$tmp/stderr")
}
contains() { [[ $1 == *"$2"* ]]; }
mode() { stat -c %a "$1"; }
sums() { sha256sum "$@" | cut -d' ' -f1 | tr '\n' ' '; }
# An unsuccessful run: non-zero exit, a message naming the problem on stderr, nothing on stdout.
refused() {
	local what=$1 needle=$2
	shift 2
	run "$@"
	if [ "$rc" -ne 0 ] && contains "$err" "$needle" && [ -z "$out" ] &&
		! contains "$err" "line " && ! contains "$err" "syntax error"; then
		ok "$what (exit $rc: ${err//$'\n'/ | })"
	else
		fail "$what: exit $rc, stderr '$err', stdout '$out' (wanted a failure mentioning '$needle')"
	fi
}
# SPKI SHA-256 computed without the tool: the PEM public key is the SPKI in base64.
spki_sha256() {
	openssl x509 -in "$1" -noout -pubkey | sed '/^-----/d' | base64 -d | sha256sum | cut -d' ' -f1
}
pubkey_of_key() { openssl pkey -in "$1" -pubout 2>/dev/null; }
pubkey_of_cert() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }

# ---- help and usage ----
run --help
check "--help exits 0 and lists the commands" \
	eval '[ $rc -eq 0 ] && contains "$out" "issue broker|agent|client|admin" && contains "$out" "ticket-key"'
run
check "no command: usage on stderr, exit 2" eval '[ $rc -eq 2 ] && contains "$err" "Usage:"'
refused "unknown command" "unknown command" --dir "$d" frobnicate
refused "unknown option" "unknown option" --dir "$d" --frobnicate init

# ---- issue before init ----
refused "issue before init" "run 'highrise-certs --dir $d init' first" --dir "$d" issue agent host1
check "issue before init leaves no files" eval '[ ! -e "$d/agent-host1.key" ] && [ ! -e "$d/agent-host1.pem" ]'

# ---- init ----
run --dir "$d" init
check "init exits 0" [ "$rc" -eq 0 ]
check "init makes ca.key 0600" eval '[ -f "$d/ca.key" ] && [ "$(mode "$d/ca.key")" = 600 ]'
check "init makes ca.pem 0644" eval '[ -f "$d/ca.pem" ] && [ "$(mode "$d/ca.pem")" = 644 ]'
check "ca.pem is a CA certificate" \
	eval 'openssl x509 -in "$d/ca.pem" -noout -ext basicConstraints | grep -q "CA:TRUE"'
check "ca.pem has keyCertSign" \
	eval 'openssl x509 -in "$d/ca.pem" -noout -ext keyUsage | grep -q "Certificate Sign"'
check "ca.pem is named Highrise CA" \
	eval 'openssl x509 -in "$d/ca.pem" -noout -subject | grep -q "CN = Highrise CA"'
check "ca.key belongs to ca.pem" eval '[ "$(pubkey_of_key "$d/ca.key")" = "$(pubkey_of_cert "$d/ca.pem")" ]'
check "ca.pem verifies as its own root" eval 'openssl verify -CAfile "$d/ca.pem" "$d/ca.pem" >/dev/null'
check "ca.pem is valid for ~10 years" \
	eval 'openssl x509 -in "$d/ca.pem" -noout -checkend $((3649 * 86400)) >/dev/null &&
	      ! openssl x509 -in "$d/ca.pem" -noout -checkend $((3651 * 86400)) >/dev/null'
check "init prints the CA's expiry and pin" \
	eval 'contains "$out" "$(openssl x509 -in "$d/ca.pem" -noout -enddate | cut -d= -f2)" &&
	      contains "$out" "$(spki_sha256 "$d/ca.pem")"'
check "no temporary files left behind" eval '[ -z "$(find "$d" -name ".tmp*")" ]'

before=$(sums "$d/ca.key" "$d/ca.pem")
refused "a second init" "--force" --dir "$d" init
check "a second init leaves ca.key and ca.pem unchanged" eval '[ "$(sums "$d/ca.key" "$d/ca.pem")" = "$before" ]'
run --dir "$d" init --force
check "init --force exits 0" [ "$rc" -eq 0 ]
after=$(sums "$d/ca.key" "$d/ca.pem")
check "init --force replaces both files" \
	eval '[ "${after%% *}" != "${before%% *}" ] && [ "${after#* }" != "${before#* }" ]'
check "the replaced key is still 0600" eval '[ "$(mode "$d/ca.key")" = 600 ]'

# ---- issue: one certificate of each kind ----
# kind name sans expected-SAN-text eku-text purposes-ok purposes-refused
issue_case() {
	local kind=$1 name=$2 sans=$3 want_san=$4 want_eku=$5 good=$6 bad=$7
	local key=$d/$kind-$name.key crt=$d/$kind-$name.pem p
	if [ -n "$sans" ]; then run --dir "$d" issue "$kind" "$name" --san "$sans"; else run --dir "$d" issue "$kind" "$name"; fi
	check "issue $kind $name exits 0" [ "$rc" -eq 0 ]
	check "$kind key is 0600" eval '[ -f "$key" ] && [ "$(mode "$key")" = 600 ]'
	check "$kind certificate is 0644" eval '[ -f "$crt" ] && [ "$(mode "$crt")" = 644 ]'
	check "$kind certificate verifies against ca.pem" \
		eval '[ "$(openssl verify -CAfile "$d/ca.pem" "$crt" 2>&1)" = "$crt: OK" ]'
	check "$kind key belongs to its certificate" eval '[ "$(pubkey_of_key "$key")" = "$(pubkey_of_cert "$crt")" ]'
	check "$kind SANs are $want_san" \
		eval '[ "$(openssl x509 -in "$crt" -noout -ext subjectAltName | sed -n 2p | tr -d " ")" = "$want_san" ]'
	check "$kind EKU is $want_eku" \
		eval '[ "$(openssl x509 -in "$crt" -noout -ext extendedKeyUsage | sed -n 2p | sed "s/^ *//")" = "$want_eku" ]'
	check "$kind subject names the kind and $name" \
		eval 'openssl x509 -in "$crt" -noout -subject | grep -q "OU = $kind, CN = $name"'
	check "$kind certificate is no CA" \
		eval 'openssl x509 -in "$crt" -noout -ext basicConstraints | grep -q "CA:FALSE"'
	for p in $good; do
		check "$kind certificate is good for $p" \
			eval 'openssl verify -purpose "$p" -CAfile "$d/ca.pem" "$crt" >/dev/null 2>&1'
	done
	for p in $bad; do
		check "$kind certificate is refused for $p" \
			eval '! openssl verify -purpose "$p" -CAfile "$d/ca.pem" "$crt" >/dev/null 2>&1'
	done
	check "issue $kind prints the expiry" \
		eval 'contains "$out" "$(openssl x509 -in "$crt" -noout -enddate | cut -d= -f2)"'
	check "issue $kind prints the SANs" eval 'contains "$out" "SANs:      $want_san"'
	check "issue $kind prints the pin" eval 'contains "$out" "pin:       $(spki_sha256 "$crt")"'
}
server="TLS Web Server Authentication"
client="TLS Web Client Authentication"
issue_case broker broker.example.com DNS:broker.example.com,IP:10.0.0.5 \
	"DNS:broker.example.com,IPAddress:10.0.0.5" "$server" sslserver sslclient
issue_case agent host17 DNS:host17.example.com,IP:127.0.0.1,IP:::1 \
	"DNS:host17.example.com,IPAddress:127.0.0.1,IPAddress:0:0:0:0:0:0:0:1" "$server, $client" \
	"sslserver sslclient" ""
issue_case client alice "" "DNS:alice" "$client" sslclient sslserver
issue_case admin root@ops "" "email:root@ops" "$client" sslclient sslserver
issue_case agent 10.1.2.3 "" "IPAddress:10.1.2.3" "$server, $client" "sslserver sslclient" ""

# validity
check "certificates default to 397 days" \
	eval 'openssl x509 -in "$d/client-alice.pem" -noout -checkend $((396 * 86400)) >/dev/null &&
	      ! openssl x509 -in "$d/client-alice.pem" -noout -checkend $((398 * 86400)) >/dev/null'
run --dir "$d" issue client shortlived --days 30
check "--days 30 gives 30 days" \
	eval '[ $rc -eq 0 ] && openssl x509 -in "$d/client-shortlived.pem" -noout -checkend $((29 * 86400)) >/dev/null &&
	      ! openssl x509 -in "$d/client-shortlived.pem" -noout -checkend $((31 * 86400)) >/dev/null'
# serials are random: two certificates never share one
check "serial numbers differ" \
	eval '[ "$(openssl x509 -in "$d/client-alice.pem" -noout -serial)" != "$(openssl x509 -in "$d/client-shortlived.pem" -noout -serial)" ]'

# issuing again without --force
before=$(sums "$d/client-alice.key" "$d/client-alice.pem")
refused "issuing the same name again" "--force" --dir "$d" issue client alice
check "the existing key and certificate are unchanged" \
	eval '[ "$(sums "$d/client-alice.key" "$d/client-alice.pem")" = "$before" ]'
run --dir "$d" issue client alice --force
check "issue --force replaces them" \
	eval '[ $rc -eq 0 ] && [ "$(sums "$d/client-alice.key" "$d/client-alice.pem")" != "$before" ]'

# ---- bad input: non-zero exit, a clear message, no files ----
refused "bad kind" "unknown kind 'server'" --dir "$d" issue server web1
refused "missing name" "usage:" --dir "$d" issue agent
refused "a name with a slash" "NAME 'a/b'" --dir "$d" issue agent a/b
i=0 # a name per case, so that one wrongly made file cannot hide the next case
for san in foo DNS: "DNS:a b" DNS:-bad IP:999.1.1.1 IP:1.2.3 IP:10.0.0.256 IP:host.example.com \
	"DNS:a.example.com,,IP:10.0.0.1" "dns:lower.example.com"; do
	i=$((i + 1))
	refused "bad SAN '$san'" "bad SAN" --dir "$d" issue agent badsan$i --san "$san"
done
for days in 0 -1 abc 36501 08 1.5; do
	i=$((i + 1))
	refused "bad --days '$days'" "--days must be a whole number" --dir "$d" issue agent baddays$i --days "$days"
done
refused "--days without a value" "--days needs a number" --dir "$d" issue agent baddays --days
refused "--days with an empty value" "--days needs a number" --dir "$d" issue agent baddays --days ""
refused "--san with an empty value" "--san needs a value" --dir "$d" issue agent badsan --san ""
refused "--san without a value" "--san needs a value" --dir "$d" issue agent badsan --san
refused "a bad --name for init" "--name must be" --dir "$tmp/other" init --name "x/O=Evil"
check "bad input made no files" \
	eval '[ -z "$(find "$d" -name "*badsan*" -o -name "*baddays*" -o -name "*web1*" -o -name ".tmp*")" ] && [ ! -e "$tmp/other/ca.key" ]'

# a CA key that does not match ca.pem: openssl's reason is passed on
mkdir -p "$tmp/mixed"
cp "$d/ca.pem" "$tmp/mixed/ca.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/mixed/ca.key" 2>/dev/null
refused "signing with the wrong CA key" "do not match" --dir "$tmp/mixed" issue agent host1

# ---- ticket-key ----
run --dir "$d" ticket-key
check "ticket-key exits 0" [ "$rc" -eq 0 ]
check "ticket.key is 0600" eval '[ "$(mode "$d/ticket.key")" = 600 ]'
check "ticket.pub is 0644" eval '[ "$(mode "$d/ticket.pub")" = 644 ]'
check "ticket.key is an Ed25519 private key" \
	eval 'openssl pkey -in "$d/ticket.key" -noout -text 2>/dev/null | grep -q "ED25519 Private-Key"'
check "ticket.pub is an Ed25519 public key" \
	eval 'openssl pkey -pubin -in "$d/ticket.pub" -noout -text 2>/dev/null | grep -q "ED25519 Public-Key"'
check "ticket.pub is the public half of ticket.key" \
	eval '[ "$(openssl pkey -in "$d/ticket.key" -pubout)" = "$(cat "$d/ticket.pub")" ]'
printf 'a message' >"$tmp/msg"
check "a signature by ticket.key verifies with ticket.pub" \
	eval 'openssl pkeyutl -sign -rawin -inkey "$d/ticket.key" -in "$tmp/msg" -out "$tmp/sig" 2>/dev/null &&
	      openssl pkeyutl -verify -rawin -pubin -inkey "$d/ticket.pub" -in "$tmp/msg" -sigfile "$tmp/sig" >/dev/null 2>&1'
before=$(sums "$d/ticket.key" "$d/ticket.pub")
refused "a second ticket-key" "--force" --dir "$d" ticket-key
check "the ticket keys are unchanged" eval '[ "$(sums "$d/ticket.key" "$d/ticket.pub")" = "$before" ]'

# ---- pin and show ----
for crt in "$d/ca.pem" "$d/agent-host17.pem" "$d/client-alice.pem"; do
	run --dir "$d" pin "$crt"
	want=$(spki_sha256 "$crt")
	check "pin of ${crt##*/} is the SPKI SHA-256 ($want)" eval '[ $rc -eq 0 ] && [ "$out" = "$want" ]'
done
check "pins of different keys differ" \
	eval '[ "$("$tool" pin "$d/ca.pem")" != "$("$tool" pin "$d/agent-host17.pem")" ]'
refused "pin of a key file" "is not a PEM certificate" pin "$d/ca.key"
refused "pin of a missing file" "cannot read" pin "$d/missing.pem"
run show "$d/agent-host17.pem"
check "show prints subject, issuer, SANs, validity and pin" \
	eval '[ $rc -eq 0 ] && contains "$out" "CN=host17,OU=agent,O=Highrise" &&
	      contains "$out" "issuer:    CN=Highrise CA,O=Highrise" &&
	      contains "$out" "SANs:      DNS:host17.example.com,IPAddress:127.0.0.1" &&
	      contains "$out" "valid:" && contains "$out" "pin:       $(spki_sha256 "$d/agent-host17.pem")"'
refused "show of a key file" "is not a PEM certificate" show "$d/ca.key"

# --dir from HIGHRISE_PKI
out=$(HIGHRISE_PKI="$tmp/envpki" "$tool" init 2>&1)
check "HIGHRISE_PKI sets the directory" eval '[ -f "$tmp/envpki/ca.key" ] && [ "$(mode "$tmp/envpki/ca.key")" = 600 ]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
