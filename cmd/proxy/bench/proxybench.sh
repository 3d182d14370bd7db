#!/usr/bin/env bash
# proxybench.sh: hangup proxy next to nginx and HAProxy, on this machine.
#
#   (a) throughput and p50/p99 latency of small answers (a 100-byte hello
#       upstream in Go): direct, through hangup proxy, nginx (proxy_pass with
#       upstream keepalive, HTTP/1.1, Connection ""), and HAProxy. wrk runs in
#       its own process (the Go "bench load" if wrk is missing), same
#       connections for all; ROUNDS rounds, interleaved, median reported.
#   (b) the time from a client's close (FIN) to the upstream's abort, TRIALS
#       trials per target (bench probe; see main.go).
#
# Usage (from the repository root or anywhere):
#
#   cmd/proxy/bench/proxybench.sh            # prints markdown tables
#
# Environment: DURATION (10s), CONNS (32), THREADS (1), ROUNDS (3),
# TRIALS (200), ABORT_TIMEOUT (1s), KEEP (1: keep the temp dir with configs
# and logs), TARGETS (names of the (a) targets to run, space-separated;
# default all), PROBE (0: skip (b)), BASELINE (a hangup binary to run as
# the target "baseline" next to the one built here: before/after in one run). Needs go; nginx, haproxy and wrk when installed
# (apt-get install -y nginx haproxy wrk); targets that are missing are
# skipped. The script starts its own instances on loopback ports with
# configs in a temp dir, and stops them on exit.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
TRIALS=${TRIALS:-200}
ABORT_TIMEOUT=${ABORT_TIMEOUT:-1s}

root=$(cd "$(dirname "$0")/../../.." && pwd)
tmp=$(mktemp -d /tmp/proxybench.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ "${KEEP:-}" == 1 ]]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

log() { echo "proxybench: $*" >&2; }

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

waitport() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	log "port $1 did not open"
	return 1
}

log "building into $tmp"
(cd "$root" && go build -o "$tmp/hangup" ./cmd/hangup && go build -o "$tmp/bench" ./cmd/proxy/bench)

have_nginx=0; command -v nginx >/dev/null && have_nginx=1
have_haproxy=0; command -v haproxy >/dev/null && have_haproxy=1
have_wrk=0; command -v wrk >/dev/null && have_wrk=1

# start_proxies UPSTREAM_PORT PREFIX: starts hangup proxy, nginx and HAProxy
# in front of 127.0.0.1:UPSTREAM_PORT and sets ${PREFIX}_hangup etc. to
# their ports.
start_proxies() {
	local up=$1 prefix=$2 p
	p=$(freeport)
	"$tmp/hangup" proxy --listen "127.0.0.1:$p" --upstream "http://127.0.0.1:$up" \
		>"$tmp/$prefix-hangup-access.log" 2>"$tmp/$prefix-hangup.err" &
	pids+=($!)
	waitport "$p"
	printf -v "${prefix}_hangup" %s "$p"

	if [[ $have_nginx == 1 ]]; then
		start_nginx "$up" "$prefix-nginx" ""
		printf -v "${prefix}_nginx" %s "$p"
	fi

	if [[ $have_haproxy == 1 ]]; then
		start_haproxy "$up" "$prefix-haproxy" "option abortonclose"
		printf -v "${prefix}_haproxy" %s "$p"
	fi
}

# start_nginx UPSTREAM_PORT NAME LOGOPTS: starts nginx in front of
# 127.0.0.1:UPSTREAM_PORT with LOGOPTS after its access_log path (empty:
# nginx's default, one write per request); sets p to its port.
start_nginx() {
	p=$(freeport)
	mkdir -p "$tmp/$2"
	cat >"$tmp/$2/nginx.conf" <<-EOF
		daemon off;
		user root;
		worker_processes auto;
		pid $tmp/$2/nginx.pid;
		error_log $tmp/$2/error.log warn;
		events { worker_connections 4096; }
		http {
		    access_log $tmp/$2/access.log $3;
		    client_body_temp_path $tmp/$2/body;
		    proxy_temp_path $tmp/$2/proxy;
		    fastcgi_temp_path $tmp/$2/fastcgi;
		    uwsgi_temp_path $tmp/$2/uwsgi;
		    scgi_temp_path $tmp/$2/scgi;
		    keepalive_requests 1000000;
		    upstream up { server 127.0.0.1:$1; keepalive 64; keepalive_requests 1000000; }
		    server {
		        listen 127.0.0.1:$p;
		        location / {
		            proxy_pass http://up;
		            proxy_http_version 1.1;
		            proxy_set_header Connection "";
		        }
		    }
		}
	EOF
	nginx -p "$tmp/$2" -c "$tmp/$2/nginx.conf" 2>"$tmp/$2.err" &
	pids+=($!)
	waitport "$p"
}

# start_haproxy UPSTREAM_PORT NAME OPTION: starts HAProxy with OPTION in its
# defaults; sets p to its port.
start_haproxy() {
	p=$(freeport)
	cat >"$tmp/$2.cfg" <<-EOF
		global
		    maxconn 4096
		defaults
		    mode http
		    option http-keep-alive
		    $3
		    timeout connect 5s
		    timeout client 30s
		    timeout server 30s
		frontend fe
		    bind 127.0.0.1:$p
		    default_backend be
		backend be
		    http-reuse safe
		    server up 127.0.0.1:$1
	EOF
	haproxy -db -f "$tmp/$2.cfg" >"$tmp/$2.out" 2>&1 &
	pids+=($!)
	waitport "$p"
}

# loadrun PORT: one load run; prints "rps p50 p99" (latencies in ms).
loadrun() {
	local out
	if [[ $have_wrk == 1 ]]; then
		out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$1/")
	else
		out=$("$tmp/bench" load -url "http://127.0.0.1:$1/" -c "$CONNS" -d "$DURATION")
	fi
	echo "$out" >>"$tmp/load.log"
	if grep -q "Non-2xx" <<<"$out" && ! grep -q "Non-2xx or errors: 0" <<<"$out"; then
		log "errors in a run against port $1: $(grep Non-2xx <<<"$out")"
	fi
	awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/Requests\/sec/ { rps = $2 }
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }
	' <<<"$out"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

cores=$(nproc)
log "machine: $cores cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# (a) throughput.
hello=$(freeport)
"$tmp/bench" hello -listen "127.0.0.1:$hello" &
pids+=($!)
waitport "$hello"
start_proxies "$hello" tp
# The same proxy with Go's default heap goal (--gc-floor 0): how much the
# floor saves of the garbage collector's cost.
gogc=$(freeport)
"$tmp/hangup" proxy --listen "127.0.0.1:$gogc" --upstream "http://127.0.0.1:$hello" --gc-floor 0 \
	>"$tmp/tp-hangup-gogc-access.log" 2>"$tmp/tp-hangup-gogc.err" &
pids+=($!)
waitport "$gogc"
targets=("direct:$hello" "hangup:$tp_hangup" "hangup-gc-floor-0:$gogc")
if [[ -n "${BASELINE:-}" ]]; then
	p=$(freeport)
	"$BASELINE" proxy --listen "127.0.0.1:$p" --upstream "http://127.0.0.1:$hello" \
		>"$tmp/tp-baseline-access.log" 2>"$tmp/tp-baseline.err" &
	pids+=($!)
	waitport "$p"
	targets+=("baseline:$p")
fi
if [[ $have_nginx == 1 ]]; then
	# nginx with a buffered access log, as the proxy's (32 KiB, flushed at
	# most 100 ms after a line; nginx's flush is in whole seconds).
	start_nginx "$hello" tp-nginx-buflog "combined buffer=32k flush=1s"
	targets+=("nginx:$tp_nginx" "nginx-buffered-log:$p")
fi
[[ $have_haproxy == 1 ]] && targets+=("haproxy:$tp_haproxy")

if [[ -n "${TARGETS:-}" ]]; then
	keep=()
	for t in "${targets[@]}"; do
		[[ " $TARGETS " == *" ${t%%:*} "* ]] && keep+=("$t")
	done
	targets=("${keep[@]}")
fi

for t in "${targets[@]}"; do # warm-up: connections, caches, Go's heap
	DURATION=2s loadrun "${t#*:}" >/dev/null
done
declare -A rps p50 p99
for round in $(seq "$ROUNDS"); do
	for t in "${targets[@]}"; do
		name=${t%%:*}
		read -r r a b < <(loadrun "${t#*:}")
		log "round $round $name: $r req/s, p50 $a ms, p99 $b ms"
		rps[$name]+="$r "
		p50[$name]+="$a "
		p99[$name]+="$b "
	done
done

loadgen="wrk -t$THREADS -c$CONNS -d$DURATION --latency"
[[ $have_wrk == 1 ]] || loadgen="bench load -c $CONNS -d $DURATION (wrk not installed)"
echo "## Throughput, 100-byte answers"
echo
echo "$(date -u +%Y-%m-%d), $cores cores, $(uname -sr), $(go version | cut -d' ' -f3); load: $loadgen; median of $ROUNDS rounds."
echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), HAProxy $(haproxy -v 2>/dev/null | head -1 | awk '{print $3}')."
echo
nginx_rps=$(tr ' ' '\n' <<<"${rps[nginx]:-}" | grep . | median || true)
echo "| target | requests/s | p50 | p99 | vs nginx | rounds (req/s) |"
echo "|---|---|---|---|---|---|"
for t in "${targets[@]}"; do
	name=${t%%:*}
	r=$(tr ' ' '\n' <<<"${rps[$name]}" | grep . | median)
	a=$(tr ' ' '\n' <<<"${p50[$name]}" | grep . | median)
	b=$(tr ' ' '\n' <<<"${p99[$name]}" | grep . | median)
	ratio="—"
	[[ -n "$nginx_rps" ]] && ratio=$(awk -v r="$r" -v n="$nginx_rps" 'BEGIN { printf "%.0f%%", 100 * r / n }')
	echo "| $name | $r | $a ms | $b ms | $ratio | ${rps[$name]% } |"
done
echo

# (b) abort propagation.
[[ "${PROBE:-1}" == 0 ]] && exit 0
probe=$(freeport)
start_proxies "$probe" ab
args=("direct=127.0.0.1:$probe" "hangup=127.0.0.1:$ab_hangup")
if [[ -n "${BASELINE:-}" ]]; then
	p=$(freeport)
	"$BASELINE" proxy --listen "127.0.0.1:$p" --upstream "http://127.0.0.1:$probe" \
		>"$tmp/ab-baseline-access.log" 2>"$tmp/ab-baseline.err" &
	pids+=($!)
	waitport "$p"
	args+=("baseline=127.0.0.1:$p")
fi
[[ $have_nginx == 1 ]] && args+=("nginx=127.0.0.1:$ab_nginx")
if [[ $have_haproxy == 1 ]]; then
	args+=("haproxy=127.0.0.1:$ab_haproxy")
	start_haproxy "$probe" ab-haproxy-default ""
	args+=("haproxy-default=127.0.0.1:$p")
fi
log "abort propagation: $TRIALS trials per target (a target that never tells the upstream takes $ABORT_TIMEOUT per trial)"
echo "## From client close to upstream abort"
echo
echo "$TRIALS trials per target; a trial counts as never after $ABORT_TIMEOUT. haproxy has option abortonclose, haproxy-default has not."
echo
echo '```'
"$tmp/bench" probe -upstream "127.0.0.1:$probe" -trials "$TRIALS" -timeout "$ABORT_TIMEOUT" "${args[@]}" 2>"$tmp/probe.err"
echo '```'
