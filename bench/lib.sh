# bench/lib.sh — what bench/storm.sh and bench/fleet.sh share: a temporary
# directory, process bookkeeping and cleanup, one PostgreSQL server, nginx
# and HAProxy configurations, and a `hangup storm` run of the
# impatient-users model. Sourced, not run: it makes TMP (with logs/ and
# results/ in it) and installs the traps that clean up on exit. The
# sourcing script sets KEEP (1: keep TMP at the end) and INSTALL (1:
# apt-get install nginx and haproxy when missing) before, and H (the hangup
# binary), ST (the stormtable binary) and, for storm, SECONDS_OF[work]
# before it calls the functions that use them.

BENCH=$(basename "$0")
TMP=$(mktemp -d "/tmp/hangup-${BENCH%.sh}-bench.XXXXXX")
chmod 755 "$TMP" # nginx workers and postgres run as other users
mkdir -p "$TMP/logs" "$TMP/results"
PIDS=()          # every process started, stopped by cleanup
PGBIN=           # PostgreSQL's server binaries, once find_postgres found them
PGDATA_DIR=      # the PostgreSQL cluster start_postgres made

# The model of bench/STORM.md: impatient users who reload.
PATIENCE_MIN=1.5 PATIENCE_MAX=3
PATIENCE="uniform:${PATIENCE_MIN}s-${PATIENCE_MAX}s"
THINK=0.5s
RELOAD=0.8

# queue_timeout S: the queue timeout of a proxy or demo whose work takes S
# seconds: the least patience minus S, at least 100 ms. A request that
# waited longer would most likely not be served before its user gives up.
queue_timeout() {
	awk -v p="$PATIENCE_MIN" -v s="$1" 'BEGIN { q = p - s; if (q < 0.1) q = 0.1; printf "%dms", q * 1000 }'
}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# stop PID...: TERM, then KILL after 5 s, and reap.
stop() {
	local pid
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "$@"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	local keep=() p
	for p in "${PIDS[@]}"; do
		[[ " $* " == *" $p "* ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# cleanup stops every process of PIDS and PostgreSQL, and removes TMP unless
# KEEP=1 or the script failed.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	[ ${#PIDS[@]} -eq 0 ] || stop "${PIDS[@]}"
	if [ -n "$PGDATA_DIR" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "$KEEP" = 1 ] || [ $rc -ne 0 ]; then
		echo "$BENCH: logs kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit $rc
}

trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_pkg() { # install_pkg BINARY PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "installing $2 from Debian's packages"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >"$TMP/logs/apt-$2.log" 2>&1 ||
			{ apt-get update -q >>"$TMP/logs/apt-$2.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >>"$TMP/logs/apt-$2.log" 2>&1; } || true
	fi
	command -v "$1" >/dev/null 2>&1
}
PATH=$PATH:/usr/sbin:/sbin

# find_postgres sets PGBIN to PostgreSQL's server binaries, or fails when
# there are none (or, as root, no postgres user to run them as).
find_postgres() {
	if command -v pg_ctl >/dev/null 2>&1; then
		PGBIN=$(dirname "$(command -v pg_ctl)")
	else
		PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	fi
	[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] &&
		{ [ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1; }
}

# start_postgres: a throwaway cluster on a free loopback port, as the
# postgres user when run as root; sets PGURL.
start_postgres() {
	local port
	port=$("$ST" ports 1)
	mkdir -p "$TMP/pg"
	[ "$(id -u)" != 0 ] || chown postgres "$TMP/pg"
	chmod 700 "$TMP/pg"
	PGDATA_DIR=$TMP/pg/data
	as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres >"$TMP/logs/initdb.log" 2>&1
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$TMP/pg/postgres.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $TMP/pg -c fsync=off -c max_connections=200" start >/dev/null
	PGURL="postgres://postgres@127.0.0.1:$port/postgres"
	log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on port $port"
}

# nginx_conf DIR PORT HTTP UPSTREAM LOCATION SERVER...: DIR/nginx.conf,
# nginx on 127.0.0.1:PORT in front of the upstream group of SERVERs
# (host:port), with the directives HTTP (for the http block: logs),
# UPSTREAM (for the upstream block: balancing) and LOCATION added.
# proxy_ignore_client_abort off (the default): a client that leaves closes
# the upstream connection.
nginx_conf() {
	local dir=$1 port=$2 http=$3 upstream=$4 location=$5 s servers=
	shift 5
	for s in "$@"; do servers+="server $s; "; done
	cat >"$dir/nginx.conf" <<-EOF
		worker_processes 1;
		pid $dir/nginx.pid;
		events { worker_connections 4096; }
		http {
		    $http
		    client_body_temp_path $dir/body;
		    proxy_temp_path $dir/proxy;
		    fastcgi_temp_path $dir/fastcgi;
		    uwsgi_temp_path $dir/uwsgi;
		    scgi_temp_path $dir/scgi;
		    upstream demo { $upstream $servers}
		    server {
		        listen 127.0.0.1:$port;
		        location / {
		            proxy_pass http://demo;
		            proxy_read_timeout 120s;
		            $location
		        }
		    }
		}
	EOF
}

# haproxy_conf DIR PORT GLOBAL DEFAULTS BACKEND SERVER...: DIR/haproxy.cfg,
# HAProxy on 127.0.0.1:PORT in front of SERVERs ("name host:port options"),
# with the lines GLOBAL, DEFAULTS and BACKEND added to their sections.
# option abortonclose drops a queued request whose client left (and aborts
# one already sent upstream).
haproxy_conf() {
	local dir=$1 port=$2 global=$3 defaults=$4 backend=$5 s servers=
	shift 5
	for s in "$@"; do servers+="    server $s"$'\n'; done
	cat >"$dir/haproxy.cfg" <<-EOF
		global
		    maxconn 4096
		    $global
		defaults
		    mode http
		    timeout connect 5s
		    timeout client 120s
		    timeout server 120s
		    timeout queue 60s
		    option abortonclose
		    $defaults
		frontend fe
		    bind 127.0.0.1:$port
		    default_backend demo
		backend demo
		    $backend
		$servers
	EOF
}

# storm_start WORK USERS PORT DURATION [storm flags...]: hangup storm's
# impatient users (PATIENCE, THINK, RELOAD) on /slow of 127.0.0.1:PORT, in
# the background; sets STORM_PID. storm_wait PID waits for it and returns
# its status; storm is the two at once, in the background so that a signal
# to the script is handled at once.
storm_start() {
	local work=$1 users=$2 port=$3 dur=$4
	shift 4
	"$H" storm --url "http://127.0.0.1:$port/slow?seconds=${SECONDS_OF[$work]}&work=$work" \
		--users "$users" --patience "$PATIENCE" --think "$THINK" --reload-prob "$RELOAD" \
		--duration "${dur}s" "$@" &
	STORM_PID=$!
	PIDS+=("$STORM_PID")
}
storm_wait() {
	local rc=0
	wait "$1" || rc=$?
	stop "$1"
	return $rc
}
storm() {
	storm_start "$@"
	storm_wait "$STORM_PID"
}
