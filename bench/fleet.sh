#!/usr/bin/env bash
# bench/fleet.sh — the fleet benchmark of bench/FLEET.md (issue 12): two
# `hangup demo` replicas doing PostgreSQL work (pg_sleep on a bounded pool,
# each with its own Admission line), one PostgreSQL, behind hangup proxy
# (--lb least_inflight), nginx (least_conn) and HAProxy (leastconn), in
# turn; impatient users from `hangup storm` at 1×, 2× and 5× the fleet's
# measured capacity; then the same storm with one replica killed (kill -9)
# halfway and started again 10 s later, for each front.
#
#   bash bench/fleet.sh            full run (~15 min): rewrites
#                                  bench/results/fleet/ and bench/FLEET.md
#   bash bench/fleet.sh --quick    3-minute smoke run (5× only, short cells):
#                                  prints the table, touches nothing in the
#                                  checkout unless --out is given
#
# Options:
#   --quick             the smoke run described above
#   --duration D        measured seconds per storm cell (default 20; --quick 6)
#   --warmup D          warmup seconds per cell (default 5; --quick 2)
#   --kill-duration D   measured seconds per kill cell, the kill at half
#                       (default 80; --quick 40)
#   --kill-load K       load of the kill cells, × capacity (default 2)
#   --fronts LIST       only these fronts (comma-separated: hangup,
#                       hangup-retry, nginx, haproxy); hangup-retry, hangup
#                       proxy with --retry-idempotent, runs in kill cells only
#   --no-kill           no kill cells
#   --out DIR           where to write results (default bench/results/fleet,
#                       --quick: a temporary directory)
#   --no-install        do not apt-get install nginx/haproxy when missing
#   --keep              keep the temporary directory (logs) at the end
#
# Needs PostgreSQL's server binaries. Every process it starts is stopped on
# exit; ports are free loopback ports picked at run time. Not run by CI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=0 DURATION= WARMUP= KILL_DURATION= KILL_LOAD=2 OUT= INSTALL=1 KEEP=0 ONLY= KILLS=1
ARGS_GIVEN="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--duration) DURATION=${2:?--duration needs seconds}; shift ;;
	--warmup) WARMUP=${2:?--warmup needs seconds}; shift ;;
	--kill-duration) KILL_DURATION=${2:?--kill-duration needs seconds}; shift ;;
	--kill-load) KILL_LOAD=${2:?--kill-load needs a multiple of the capacity}; shift ;;
	--fronts) ONLY=${2:?--fronts needs a list}; shift ;;
	--no-kill) KILLS=0 ;;
	--out) OUT=${2:?--out needs a directory}; shift ;;
	--no-install) INSTALL=0 ;;
	--keep) KEEP=1 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "fleet.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

LOADS=(1 2 5)
FRONTS=(hangup nginx haproxy)
KILL_FRONTS=(hangup hangup-retry nginx haproxy)
WORKERS=4 # per replica: --max-inflight and --db-pool
declare -A SECONDS_OF=([postgres]=1)
PROXY_QUEUE=64
RESTART_AFTER=10
if [ "$QUICK" = 1 ]; then
	LOADS=(5)
	KILL_FRONTS=(hangup nginx haproxy)
	DURATION=${DURATION:-6} WARMUP=${WARMUP:-2} KILL_DURATION=${KILL_DURATION:-40}
fi
DURATION=${DURATION:-20} WARMUP=${WARMUP:-5} KILL_DURATION=${KILL_DURATION:-80}
TOP=${LOADS[-1]}
chosen() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

# TMP, log, stop, cleanup, PostgreSQL, the nginx and HAProxy
# configurations, storm
. "$ROOT/bench/lib.sh"

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at the start: $LOADAVG_START"
log "building hangup and the helpers"
go build -o "$TMP/hangup" ./cmd/hangup
go build -o "$TMP/stormtable" bench/stormtable.go bench/cli.go
go build -o "$TMP/fleettable" bench/fleettable.go bench/cli.go
H=$TMP/hangup ST=$TMP/stormtable FT=$TMP/fleettable

declare -A SKIP=()
install_pkg nginx nginx || SKIP[nginx]="nginx not installed (apt-get install nginx)"
install_pkg haproxy haproxy || SKIP[haproxy]="haproxy not installed (apt-get install haproxy)"
for s in "${!SKIP[@]}"; do log "skip: ${SKIP[$s]}"; done
find_postgres || { echo "fleet.sh: no PostgreSQL server binaries (initdb, pg_ctl) found: apt-get install postgresql" >&2; exit 2; }
start_postgres

now_ms() { date +%s%3N; }

# start_replica NAME PORT LOG [demo flags...]: one replica on PORT, its
# output stamped into LOG; sets PID_OF[NAME].
declare -A PID_OF=()
start_replica() {
	local name=$1 port=$2 out=$3
	shift 3
	mkdir -p "$TMP/data-$name"
	"$H" demo --listen "127.0.0.1:$port" --max-inflight "$WORKERS" --db "$PGURL" --db-pool "$WORKERS" \
		--data "$TMP/data-$name" --access-log "$@" > >("$FT" stamp >"$out") 2>&1 &
	PID_OF[$name]=$!
	PIDS+=("${PID_OF[$name]}")
	"$ST" wait "http://127.0.0.1:$port/metrics" 60s
}

# start_fleet [demo flags...]: replicas a and b on fresh ports and the
# /metrics that sums them; sets PORT_A, PORT_B, METRICS.
start_fleet() {
	local ports mport
	ports=$("$ST" ports 3)
	PORT_A=$(sed -n 1p <<<"$ports") PORT_B=$(sed -n 2p <<<"$ports") mport=$(sed -n 3p <<<"$ports")
	start_replica a "$PORT_A" "$TMP/logs/$CELL-a.log" "$@"
	start_replica b "$PORT_B" "$TMP/logs/$CELL-b.log" "$@"
	"$FT" metrics "127.0.0.1:$mport" "http://127.0.0.1:$PORT_A/metrics" "http://127.0.0.1:$PORT_B/metrics" 2>"$TMP/logs/$CELL-metrics.log" &
	PID_OF[metrics]=$!
	PIDS+=("${PID_OF[metrics]}")
	METRICS=http://127.0.0.1:$mport/metrics
	"$ST" wait "$METRICS" 30s
}

stop_fleet() {
	stop ${FRONT_PID:+"$FRONT_PID"} "${PID_OF[metrics]}" "${PID_OF[a]}" "${PID_OF[b]}"
	FRONT_PID=
}

# The fronts' settings, also written to meta.json for FLEET.md.
declare -A FRONT_DESC=()
hangup_flags() { # hangup_flags QUEUE_TIMEOUT
	echo "--lb least_inflight --max-inflight $WORKERS --queue $PROXY_QUEUE --queue-timeout $1 --log-format json"
}
NGINX_UPSTREAM="least_conn;"
NGINX_LOCATION="proxy_next_upstream error timeout;"
HAPROXY_BACKEND="balance leastconn
    option redispatch
    retries 3"
HAPROXY_SERVER="maxconn $WORKERS check"

# start_front FRONT: the front in front of replicas a and b, its output
# stamped into FRONT_LOG; sets FRONT_PID and FRONT_PORT.
start_front() {
	local front=$1 dir=$TMP/front-$CELL
	FRONT_PORT=$("$ST" ports 1)
	FRONT_LOG=$TMP/logs/$CELL-front.log
	mkdir -p "$dir"
	chmod 755 "$dir"
	local a=127.0.0.1:$PORT_A b=127.0.0.1:$PORT_B
	case $front in
	hangup | hangup-retry)
		local extra=()
		[ "$front" = hangup ] || extra=(--retry-idempotent)
		# shellcheck disable=SC2046 # hangup_flags is words
		"$H" proxy --listen "127.0.0.1:$FRONT_PORT" --upstream "http://$a" --upstream "http://$b" \
			$(hangup_flags "$QUEUE_TIMEOUT") "${extra[@]}" > >("$FT" stamp >"$FRONT_LOG") 2>&1 &
		;;
	nginx)
		# Access lines for fleettable: status, the upstreams tried, their statuses.
		# shellcheck disable=SC2016 # nginx's variables
		nginx_conf "$dir" "$FRONT_PORT" \
			'log_format fleet '\''ACC $status "$upstream_addr" "$upstream_status"'\''; access_log /dev/stdout fleet; error_log stderr warn;' \
			"$NGINX_UPSTREAM" "$NGINX_LOCATION" "$a" "$b"
		nginx -p "$dir" -e stderr -c "$dir/nginx.conf" -g 'daemon off;' > >("$FT" stamp >"$FRONT_LOG") 2>&1 &
		;;
	haproxy)
		# Access lines for fleettable: status, server, termination state, retries.
		haproxy_conf "$dir" "$FRONT_PORT" "log stderr format raw local0 info" \
			"log global
    log-format \"ACC %ST %s %tsc %rc\"" "$HAPROXY_BACKEND" "$a $a $HAPROXY_SERVER" "$b $b $HAPROXY_SERVER"
		haproxy -db -f "$dir/haproxy.cfg" > >("$FT" stamp >"$FRONT_LOG") 2>&1 &
		;;
	esac
	FRONT_PID=$!
	PIDS+=("$FRONT_PID")
	"$ST" wait "http://127.0.0.1:$FRONT_PORT/metrics" 30s
}

# capacity: a patient closed-loop run at each replica directly, both at
# once (users = workers, no think time, patience 60 s), summed.
measure_capacity() {
	CELL=capacity
	start_fleet
	local pa pb
	PATIENCE=60s THINK=0s RELOAD=0 storm_start postgres "$WORKERS" "$PORT_A" "$DURATION" --json >"$TMP/logs/capacity-a.json" 2>"$TMP/logs/storm-capacity-a.log"
	pa=$STORM_PID
	PATIENCE=60s THINK=0s RELOAD=0 storm_start postgres "$WORKERS" "$PORT_B" "$DURATION" --json >"$TMP/logs/capacity-b.json" 2>"$TMP/logs/storm-capacity-b.log"
	pb=$STORM_PID
	storm_wait "$pa"
	storm_wait "$pb"
	stop_fleet
	"$FT" capacity "$TMP/results/capacity.json" "$TMP/logs/capacity-a.json" "$TMP/logs/capacity-b.json"
	local c s
	read -r c s < <("$ST" capacity "$TMP/results/capacity.json")
	QUEUE_TIMEOUT=$(queue_timeout "$s")
	log "fleet capacity: $c responses/s, service time $s s (2 replicas × $WORKERS workers); queue timeout $QUEUE_TIMEOUT"
}

# run_cell KIND FRONT LOAD: KIND storm (the storm alone) or kill (a replica
# killed halfway and restarted RESTART_AFTER s later).
run_cell() {
	local kind=$1 front=$2 k=$3 dur=$DURATION
	[ "$kind" = storm ] || dur=$KILL_DURATION
	CELL=$kind-${k}x-$front
	[ "$kind" = storm ] || CELL=kill-$front
	local res=$TMP/results/$CELL
	if [ -n "${SKIP[$front]:-}" ]; then
		echo "not run: ${SKIP[$front]}" >"$res.skip"
		return
	fi
	local users la0 offset plot=()
	users=$("$ST" users "$TMP/results/capacity.json" "$k" "$THINK")
	la0=$(cut -d' ' -f1-3 /proc/loadavg)
	start_fleet --queue-timeout "$QUEUE_TIMEOUT"
	start_front "$front"
	storm postgres "$users" "$FRONT_PORT" "$WARMUP" >"$TMP/logs/$CELL-warmup.txt" 2>&1 || true
	# The warmup's users all leave at once when it ends: the measured run
	# starts when their work has ended (see FLEET.md).
	"$FT" idle "$METRICS" 10s
	offset=$(stat -c %s "$FRONT_LOG")
	[ "$kind" = kill ] || [ "$k" = "$TOP" ] && plot=(--plot "$res.svg")
	local start kill_ms= restart_ms= ready_ms= rc=0
	start=$(now_ms)
	# --settle 0: work is counted when it ends inside the measured window,
	# as in bench/storm.sh.
	storm_start postgres "$users" "$FRONT_PORT" "$dur" --metrics "$METRICS" --settle 0 --json "${plot[@]}" \
		>"$TMP/logs/$CELL-storm.json" 2>"$TMP/logs/$CELL-storm.log"
	local spid=$STORM_PID
	if [ "$kind" = kill ]; then
		sleep "$(awk -v s="$start" -v d="$dur" -v n="$(now_ms)" 'BEGIN { w = (s + d * 500 - n) / 1000; print (w > 0 ? w : 0) }')"
		curl -sf -o /dev/null "$METRICS" || true # the last count of the replica's work before it dies
		kill_ms=$(now_ms)
		kill -KILL "${PID_OF[a]}"
		wait "${PID_OF[a]}" 2>/dev/null || true
		stop "${PID_OF[a]}"
		sleep "$RESTART_AFTER"
		restart_ms=$(now_ms)
		start_replica a "$PORT_A" "$TMP/logs/$CELL-a2.log" --queue-timeout "$QUEUE_TIMEOUT"
		ready_ms=$(now_ms)
		log "$CELL: killed replica a at +$(((kill_ms - start) / 1000)) s, started again at +$(((restart_ms - start) / 1000)) s"
	fi
	storm_wait "$spid" || rc=$?
	stop_fleet
	if [ $rc -ne 0 ]; then
		rm -f "$res.svg"
		echo "not run: hangup storm failed ($(tail -1 "$TMP/logs/$CELL-storm.log"))" >"$res.skip"
		log "$CELL: storm failed: $(tail -1 "$TMP/logs/$CELL-storm.log")"
		return
	fi
	local killflags=()
	[ "$kind" = storm ] || killflags=(--killed "127.0.0.1:$PORT_A" --killed-log "$TMP/logs/$CELL-a.log"
		--restarted-log "$TMP/logs/$CELL-a2.log" --start-ms "$start" --kill-ms "$kill_ms"
		--restart-ms "$restart_ms" --ready-ms "$ready_ms")
	"$FT" cell -out "$res.json" -storm "$TMP/logs/$CELL-storm.json" -capacity "$TMP/results/capacity.json" \
		-proxy "$front" -load "$k" -users "$users" -front-log "$FRONT_LOG" -front-offset "$offset" \
		-loadavg-start "$la0" -loadavg-end "$(cut -d' ' -f1-3 /proc/loadavg)" "${killflags[@]}"
	log "$CELL ($users users): $("$FT" summary "$res.json")"
}

START=$(date +%s)
measure_capacity
for k in "${LOADS[@]}"; do
	for front in "${FRONTS[@]}"; do
		chosen "$front" && run_cell storm "$front" "$k"
	done
done
if [ "$KILLS" = 1 ]; then
	for front in "${KILL_FRONTS[@]}"; do
		chosen "$front" && run_cell kill "$front" "$KILL_LOAD"
	done
fi
log "done in $(($(date +%s) - START)) s"
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at the end: $LOADAVG_END"

# --- record and write the table ------------------------------------------
jstr() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/ }; printf '"%s"' "$s"; }
VERSIONS="go $(go env GOVERSION | sed 's/^go//'), nginx $(nginx -v 2>&1 | sed -n 's|.*nginx/||p'), haproxy $(haproxy -v 2>/dev/null | awk 'NR==1 {print $3}'), postgres $("$PGBIN/postgres" --version | awk '{print $3}')"
MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
NGINX_DESC="upstream { $NGINX_UPSTREAM server a; server b; }, $NGINX_LOCATION proxy_read_timeout 120s"
HAPROXY_DESC="$(sed 's/^ *//' <<<"$HAPROXY_BACKEND" | paste -sd, | sed 's/,/, /g'), option abortonclose, timeout queue 60s, server … $HAPROXY_SERVER"
{
	printf '{\n  "date": %s,\n  "command": %s,\n  "machine": %s,\n  "versions": %s,\n' \
		"$(jstr "$(date -u '+%Y-%m-%d %H:%M UTC')")" "$(jstr "bash bench/fleet.sh${ARGS_GIVEN:+ $ARGS_GIVEN}")" "$(jstr "$MACHINE")" "$(jstr "$VERSIONS")"
	printf '  "loadavg_start": %s, "loadavg_end": %s,\n' "$(jstr "$LOADAVG_START")" "$(jstr "$LOADAVG_END")"
	printf '  "patience": %s, "think": %s, "reload": "%s", "warmup": "%s s", "duration": "%s s", "kill_duration": "%s s",\n' \
		"$(jstr "$PATIENCE")" "$(jstr "$THINK")" "$RELOAD" "$WARMUP" "$DURATION" "$KILL_DURATION"
	printf '  "queue_timeout": %s,\n' "$(jstr "$QUEUE_TIMEOUT")"
	printf '  "fronts": {"hangup": %s, "nginx": %s, "haproxy": %s}\n}\n' \
		"$(jstr "hangup proxy --upstream a --upstream b $(hangup_flags "$QUEUE_TIMEOUT")")" "$(jstr "$NGINX_DESC")" "$(jstr "$HAPROXY_DESC")"
} >"$TMP/results/meta.json"

if [ -z "$OUT" ] && [ "$QUICK" = 1 ]; then
	"$FT" table "$TMP/results"
	echo "fleet.sh --quick: results in $TMP/results (removed on exit; --out DIR or --keep to keep them)" >&2
	exit 0
fi
if [ -z "$OUT" ]; then
	OUT=$ROOT/bench/results/fleet
	rm -rf "$OUT"
	mkdir -p "$OUT"
	cp -r "$TMP/results/." "$OUT"
	"$FT" table "$OUT" >"$ROOT/bench/FLEET.md"
	log "wrote bench/FLEET.md and bench/results/fleet/"
else
	mkdir -p "$OUT"
	cp -r "$TMP/results/." "$OUT"
	"$FT" table "$OUT" | tee "$OUT/FLEET.md"
	log "wrote $OUT"
fi
