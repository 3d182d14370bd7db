#!/usr/bin/env bash
# bench/storm.sh — the scenario matrix of bench/STORM.md: impatient users
# (hangup storm) against `hangup demo` doing heavy work with a fixed capacity,
# (1) without hangup (--ignore-disconnect), (2) with hangup, (3) behind
# `hangup proxy` (queue; 3′ with coalescing), (4) behind nginx, (5) behind
# HAProxy (option abortonclose, maxconn queue), at 1×, 2× and 5× the
# backend's measured capacity, on PostgreSQL (pg_sleep on a bounded pool)
# and on the embedded SQLite (CPU-bound query).
#
#   bash bench/storm.sh            full run (~15 min): rewrites bench/results/,
#                                  bench/STORM.md and bench/storm-5x-*.svg
#   bash bench/storm.sh --quick    2-minute smoke run (SQLite, 5× only, short
#                                  cells): prints the table, touches nothing
#                                  in the checkout unless --out is given
#
# Options:
#   --quick             the smoke run described above
#   --pg all|top|none   PostgreSQL cells: the whole matrix, the top load only
#                       (default), or none. Skipped with a message when the
#                       PostgreSQL server binaries are not found.
#   --sqlite all|top|none   SQLite cells (default all; --quick: top)
#   --duration D        measured seconds per cell (default 20; --quick 6)
#   --warmup D          warmup seconds per cell (default 5; --quick 2)
#   --out DIR           where to write raw results (default bench/results,
#                       --quick: a temporary directory)
#   --no-install        do not apt-get install nginx/haproxy when missing
#   --keep              keep the temporary directory (logs) at the end
#   --scenarios LIST    run only these rows (comma-separated ids: baseline,
#                       hangup,hangup-queue,proxy,proxy-coalesce,nginx,haproxy)
#
# Every process it starts is stopped on exit. Ports are free loopback ports
# picked at run time. Not run by CI (too long); CI runs go test only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=0 PG=top SQLITE=all DURATION= WARMUP= OUT= INSTALL=1 KEEP=0 ONLY=
SQLITE_GIVEN=0
ARGS_GIVEN="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--pg) PG=${2:?--pg needs all, top or none}; shift ;;
	--sqlite) SQLITE=${2:?--sqlite needs all, top or none}; SQLITE_GIVEN=1; shift ;;
	--duration) DURATION=${2:?--duration needs seconds}; shift ;;
	--warmup) WARMUP=${2:?--warmup needs seconds}; shift ;;
	--out) OUT=${2:?--out needs a directory}; shift ;;
	--no-install) INSTALL=0 ;;
	--keep) KEEP=1 ;;
	--scenarios) ONLY=${2:?--scenarios needs a list}; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "storm.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$PG" "$SQLITE"; do
	case $v in all | top | none) ;; *) echo "storm.sh: --pg/--sqlite take all, top or none, not $v" >&2; exit 2 ;; esac
done

LOADS=(1 2 5)
SCENARIOS=(baseline hangup hangup-queue proxy proxy-coalesce nginx haproxy)
CAP_DURATION=
# The backends: workers (and PostgreSQL connections) and seconds of work
# per request. SQLite's work is CPU: as many workers as cores, and half a
# second of it, since two queries at once on this machine's 2 vCPUs run
# slower than the demo's single-query calibration says.
declare -A WORKERS=([postgres]=4 [sqlite]=2)
declare -A SECONDS_OF=([postgres]=1 [sqlite]=0.5)
PROXY_QUEUE=64

if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-6} WARMUP=${WARMUP:-2}
	[ "$SQLITE_GIVEN" = 1 ] || SQLITE=top
	[[ " $ARGS_GIVEN " == *" --pg "* ]] || PG=none
fi
DURATION=${DURATION:-20} WARMUP=${WARMUP:-5}
CAP_DURATION=${CAP_DURATION:-$DURATION}
TOP=${LOADS[-1]}

# TMP, log, stop, cleanup, PostgreSQL, the nginx and HAProxy
# configurations, storm
. "$ROOT/bench/lib.sh"

# --- build once ---------------------------------------------------------
log "building hangup and the table helper"
go build -o "$TMP/hangup" ./cmd/hangup
go build -o "$TMP/stormtable" bench/stormtable.go bench/cli.go
H=$TMP/hangup ST=$TMP/stormtable

# --- what can run -------------------------------------------------------
declare -A SKIP=()
help=$("$H" -h 2>&1 || true)
if ! grep -q '^  proxy ' <<<"$help"; then
	SKIP[proxy]="not run: hangup proxy not in this build"
	SKIP[proxy-coalesce]=${SKIP[proxy]}
fi
install_pkg nginx nginx || SKIP[nginx]="not run: nginx not installed (apt-get install nginx)"
install_pkg haproxy haproxy || SKIP[haproxy]="not run: haproxy not installed (apt-get install haproxy)"
for s in "${!SKIP[@]}"; do log "skip: ${SKIP[$s]}"; done

WORKS=()
if [ "$PG" != none ]; then
	if find_postgres; then
		WORKS+=(postgres)
	else
		log "skip: PostgreSQL cells not run: no PostgreSQL server binaries (initdb, pg_ctl) found"
		PG=none
	fi
fi
[ "$SQLITE" = none ] || WORKS+=(sqlite)
[ ${#WORKS[@]} -gt 0 ] || { echo "storm.sh: nothing to run" >&2; exit 2; }

[ "$PG" = none ] || start_postgres

# --- one cell -------------------------------------------------------------
# start_demo WORK [flags...]: starts the backend; sets DEMO_PID, DEMO_PORT.
# The demo sizes its SQLite work by timing the query at startup, and on a
# shared (virtual) machine that timing varies a lot from one start to the
# next; for SQLite cells the demo is restarted until its calibration is
# within ±SQLITE_TOLERANCE of the reference SQLITE_REF (see sqlite_reference).
SQLITE_REF= SQLITE_TOLERANCE=0.2 SQLITE_TRIES=10
start_demo() {
	local work=$1 try rate
	shift
	for try in $(seq "$SQLITE_TRIES"); do
		DEMO_PORT=$("$ST" ports 1)
		local flags=(--listen "127.0.0.1:$DEMO_PORT" --max-inflight "${WORKERS[$work]}" --data "$TMP/sqlite")
		[ "$work" != postgres ] || flags+=(--db "$PGURL" --db-pool "${WORKERS[$work]}")
		mkdir -p "$TMP/sqlite"
		"$H" demo "${flags[@]}" "$@" >"$TMP/logs/demo-$CELL.log" 2>&1 &
		DEMO_PID=$!
		PIDS+=("$DEMO_PID")
		"$ST" wait "http://127.0.0.1:$DEMO_PORT/metrics" 60s
		rate=$(grep -o 'sqlite_rows_per_s=[0-9]*' "$TMP/logs/demo-$CELL.log" | tail -1 | cut -d= -f2)
		DEMO_RATE=$rate
		if [ "$work" != sqlite ] || [ -z "$SQLITE_REF" ] ||
			awk -v r="$rate" -v ref="$SQLITE_REF" -v tol="$SQLITE_TOLERANCE" 'BEGIN { exit !(r >= ref * (1 - tol) && r <= ref * (1 + tol)) }'; then
			return 0
		fi
		[ "$try" != "$SQLITE_TRIES" ] || break
		log "$CELL: the demo calibrated SQLite at $rate rows/s, reference $SQLITE_REF: restarting it (try $try)"
		stop "$DEMO_PID"
	done
	log "$CELL: SQLite calibration still off after $SQLITE_TRIES tries ($rate rows/s): running anyway"
	echo "$CELL $rate" >>"$TMP/results/sqlite-calibration-off.txt"
}

# sqlite_reference: the reference calibration, the median of 5 demo starts.
sqlite_reference() {
	local i rates=()
	CELL=sqlite-calibration
	for i in 1 2 3 4 5; do
		start_demo sqlite
		stop "$DEMO_PID"
		rates+=("$DEMO_RATE")
	done
	SQLITE_REF=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n 3p)
	log "SQLite reference calibration: $SQLITE_REF rows/s (the median of 5 demo starts: ${rates[*]})"
}

# start_front SCENARIO WORK: starts the proxy in front of the demo, if any;
# sets FRONT_PID (empty without one) and FRONT_PORT.
start_front() {
	local sc=$1 work=$2 dir=$TMP/front-$CELL
	FRONT_PID= FRONT_PORT=$DEMO_PORT
	case $sc in
	baseline | hangup | hangup-queue) return ;;
	esac
	FRONT_PORT=$("$ST" ports 1)
	mkdir -p "$dir"
	chmod 755 "$dir"
	case $sc in
	proxy | proxy-coalesce)
		local extra=()
		[ "$sc" = proxy ] || extra=(--coalesce)
		"$H" proxy --listen "127.0.0.1:$FRONT_PORT" --upstream "http://127.0.0.1:$DEMO_PORT" \
			--max-inflight "${WORKERS[$work]}" --queue "$PROXY_QUEUE" --queue-timeout "${QUEUE_TIMEOUT[$work]}" \
			"${extra[@]}" >"$TMP/logs/proxy-$CELL.log" 2>&1 &
		;;
	nginx)
		nginx_conf "$dir" "$FRONT_PORT" "access_log off; error_log $dir/error.log warn;" "" "" "127.0.0.1:$DEMO_PORT"
		nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' >"$TMP/logs/nginx-$CELL.log" 2>&1 &
		;;
	haproxy)
		haproxy_conf "$dir" "$FRONT_PORT" "" "" "" "demo 127.0.0.1:$DEMO_PORT maxconn ${WORKERS[$work]}"
		haproxy -db -f "$dir/haproxy.cfg" >"$TMP/logs/haproxy-$CELL.log" 2>&1 &
		;;
	esac
	FRONT_PID=$!
	PIDS+=("$FRONT_PID")
	"$ST" wait "http://127.0.0.1:$FRONT_PORT/metrics" 30s
}

# run_cell WORK LOAD SCENARIO
run_cell() {
	local work=$1 k=$2 sc=$3
	CELL=$work-${k}x-$sc
	local res=$TMP/results/$CELL
	if [ -n "${SKIP[$sc]:-}" ]; then
		echo "${SKIP[$sc]}" >"$res.skip"
		return
	fi
	local users
	users=$("$ST" users "$TMP/results/$work-capacity.json" "$k" "$THINK")
	local demo_flags=()
	[ "$sc" != baseline ] || demo_flags=(--ignore-disconnect)
	[ "$sc" != hangup-queue ] || demo_flags=(--queue-timeout "${QUEUE_TIMEOUT[$work]}")
	start_demo "$work" "${demo_flags[@]}"
	if ! start_front "$sc" "$work"; then
		echo "not run: $sc did not start (see its log)" >"$res.skip"
		log "$CELL: $sc did not start"
		stop ${FRONT_PID:+"$FRONT_PID"} "$DEMO_PID"
		return
	fi
	local plot=()
	[ "$k" != "$TOP" ] || plot=(--plot "$res.svg")
	storm "$work" "$users" "$FRONT_PORT" "$WARMUP" >"$TMP/logs/warmup-$CELL.txt" 2>&1 || true
	# --settle 0: work is counted when it ends inside the measured window;
	# the work left running by the warmup's users counts (as it would in a
	# steady state), the work left running by the measured run's does not.
	if storm "$work" "$users" "$FRONT_PORT" "$DURATION" --metrics "http://127.0.0.1:$DEMO_PORT/metrics" --settle 0 \
		--json "${plot[@]}" >"$res.json" 2>"$TMP/logs/storm-$CELL.log"; then
		log "$CELL ($users users): $("$ST" summary "$res.json")"
	else
		rm -f "$res.json" "$res.svg"
		echo "not run: hangup storm failed ($(tail -1 "$TMP/logs/storm-$CELL.log"))" >"$res.skip"
		log "$CELL: storm failed: $(tail -1 "$TMP/logs/storm-$CELL.log")"
	fi
	stop ${FRONT_PID:+"$FRONT_PID"} "$DEMO_PID"
}

# measure_capacity WORK: a patient closed-loop run, users = workers.
declare -A QUEUE_TIMEOUT=()
measure_capacity() {
	local work=$1
	CELL=$work-capacity
	start_demo "$work"
	PATIENCE=60s THINK=0s RELOAD=0 storm "$work" "${WORKERS[$work]}" "$DEMO_PORT" "$CAP_DURATION" \
		--metrics "http://127.0.0.1:$DEMO_PORT/metrics" --json >"$TMP/results/$CELL.json" 2>"$TMP/logs/storm-$CELL.log"
	stop "$DEMO_PID"
	local c s
	read -r c s < <("$ST" capacity "$TMP/results/$CELL.json")
	QUEUE_TIMEOUT[$work]=$(queue_timeout "$s")
	log "$work capacity: $c responses/s, service time $s s (${WORKERS[$work]} workers); proxy queue timeout ${QUEUE_TIMEOUT[$work]}"
}

loads_for() { # loads_for all|top
	if [ "$1" = all ]; then echo "${LOADS[@]}"; else echo "$TOP"; fi
}

START=$(date +%s)
for work in "${WORKS[@]}"; do
	[ "$work" != sqlite ] || sqlite_reference
	measure_capacity "$work"
	mode=$SQLITE
	[ "$work" != postgres ] || mode=$PG
	for k in $(loads_for "$mode"); do
		for sc in "${SCENARIOS[@]}"; do
			[ -z "$ONLY" ] || [[ ",$ONLY," == *",$sc,"* ]] || continue
			run_cell "$work" "$k" "$sc"
		done
	done
done
log "matrix done in $(($(date +%s) - START)) s"

# --- record and write the table ------------------------------------------
jstr() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
versions() {
	local first=1 k v
	printf '{'
	for k in go nginx haproxy postgres; do
		case $k in
		go) v=$(go env GOVERSION) ;;
		nginx) v=$(nginx -v 2>&1 | sed -n 's|.*nginx/||p') ;;
		haproxy) v=$(haproxy -v 2>/dev/null | awk 'NR==1 {print $3}') ;;
		postgres) v=$([ -z "$PGBIN" ] || "$PGBIN/postgres" --version | awk '{print $3}') ;;
		esac
		[ -n "$v" ] || continue
		[ $first = 1 ] || printf ', '
		first=0
		printf '"%s": %s' "$k" "$(jstr "$v")"
	done
	printf '}'
}
MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
CMD="bash bench/storm.sh${ARGS_GIVEN:+ $ARGS_GIVEN}"
qt=
for w in "${WORKS[@]}"; do qt+="${qt:+, }$w ${QUEUE_TIMEOUT[$w]}"; done
used_loads=() # the loads that ran, for the table
for k in "${LOADS[@]}"; do
	ls "$TMP/results/"*-"${k}x-"* >/dev/null 2>&1 && used_loads+=("$k")
done
{
	printf '{\n  "date": %s,\n  "command": %s,\n  "machine": %s,\n  "versions": %s,\n' \
		"$(jstr "$(date -u '+%Y-%m-%d %H:%M UTC')")" "$(jstr "$CMD")" "$(jstr "$MACHINE")" "$(versions)"
	printf '  "params": {"patience": %s, "think": %s, "reload_prob": %s, "warmup": "%ss", "duration": "%ss", "loads": [%s],\n' \
		"$(jstr "$PATIENCE")" "$(jstr "$THINK")" "$RELOAD" "$WARMUP" "$DURATION" "$(IFS=,; echo "${used_loads[*]}")"
	printf '    "workers": {"postgres": %d, "sqlite": %d}, "seconds": {"postgres": "%s", "sqlite": "%s"},\n' \
		"${WORKERS[postgres]}" "${WORKERS[sqlite]}" "${SECONDS_OF[postgres]}" "${SECONDS_OF[sqlite]}"
	printf '    "sqlite_rows_per_s": %s, "sqlite_tolerance": %s,\n' "${SQLITE_REF:-0}" "$SQLITE_TOLERANCE"
	printf '    "proxy_flags": %s},\n' "$(jstr "--max-inflight <workers> --queue $PROXY_QUEUE --queue-timeout <least patience − S> ($qt)")"
	printf '  "works": [%s]\n}\n' "$(printf '"%s",' "${WORKS[@]}" | sed 's/,$//')"
} >"$TMP/results/meta.json"

if [ -z "$OUT" ] && [ "$QUICK" = 1 ]; then
	"$ST" table "$TMP/results"
	echo
	echo "storm.sh --quick: results in $TMP/results (removed on exit; --out DIR or --keep to keep them)" >&2
	exit 0
fi

if [ -z "$OUT" ]; then
	OUT=$ROOT/bench/results
	"$ST" table "$TMP/results" >"$TMP/STORM.md"
	rm -rf "$OUT"
	cp -r "$TMP/results" "$OUT"
	mv "$TMP/STORM.md" "$ROOT/bench/STORM.md"
	plotwork=${WORKS[0]}
	for sc in hangup baseline; do
		if [ -f "$OUT/$plotwork-${TOP}x-$sc.svg" ]; then
			cp "$OUT/$plotwork-${TOP}x-$sc.svg" "$ROOT/bench/storm-${TOP}x-$sc.svg"
		fi
	done
	log "wrote bench/STORM.md, bench/results/ and bench/storm-${TOP}x-{hangup,baseline}.svg ($plotwork)"
else
	mkdir -p "$OUT"
	rm -f "$OUT"/*.json "$OUT"/*.skip "$OUT"/*.svg
	cp -r "$TMP/results/." "$OUT"
	"$ST" table "$OUT" | tee "$OUT/STORM.md"
	log "wrote $OUT"
fi
