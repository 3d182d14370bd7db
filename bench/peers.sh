#!/usr/bin/env bash
# bench/peers.sh — hangup storm validated against hey and vegeta, in one
# run: the three tools against the same loopback server (bench/peers.go
# serve: Go net/http, each request answered after SERVICE), storm in
# patient mode (--patience inf: no user gives up), at the same concurrency
# (closed loop) and at the same rate (open loop), several rounds with the
# tools' order rotated. Writes bench/results/peers-* (each run's raw output
# and its CPU, from /proc/PID/stat) and bench/PEERS.md (the table, by
# bench/peers.go table).
#
#   bash bench/peers.sh            5 rounds of 5 s per tool and mode (~3 min)
#   bash bench/peers.sh --quick    1 round of 2 s, into a temporary directory
#
# Options:
#   --rounds N      rounds (default 5)
#   --duration D    seconds per run (default 5)
#   --users N       closed-loop concurrency: storm --users, hey -c, vegeta -max-workers (default 10)
#   --rate R        open-loop rate per second: storm --rate, vegeta -rate, hey -c 20 -q R/20 (default 200)
#   --service D     the server's service time (default 20ms)
#   --out DIR       raw results (default bench/results; --quick: a temporary directory)
#
# hey (github.com/rakyll/hey) and vegeta (github.com/tsenart/vegeta/v12
# v12.13.0) are installed with go install into a temporary GOBIN. Every
# process it starts is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=5 DURATION=5 USERS=10 RATE=200 SERVICE=20ms OUT= QUICK=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=${2:?--rounds needs a number}; shift ;;
	--duration) DURATION=${2:?--duration needs seconds}; shift ;;
	--users) USERS=${2:?--users needs a number}; shift ;;
	--rate) RATE=${2:?--rate needs a number}; shift ;;
	--service) SERVICE=${2:?--service needs a duration}; shift ;;
	--out) OUT=${2:?--out needs a directory}; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "peers.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then ROUNDS=1 DURATION=2; fi

TMP=$(mktemp -d /tmp/hangup-peers.XXXXXX)
SERVER_PID=
cleanup() {
	[ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

RES=$TMP/results
mkdir -p "$RES" "$TMP/bin"
log "building hangup and the helper; installing hey and vegeta into $TMP/bin"
(cd cmd && go build -o "$TMP/bin/hangup" ./hangup)
go build -o "$TMP/bin/peers" bench/peers.go bench/cli.go
GOBIN=$TMP/bin go install github.com/rakyll/hey@latest
GOBIN=$TMP/bin go install github.com/tsenart/vegeta/v12@v12.13.0
B=$TMP/bin

"$B/peers" serve "$TMP/addr" "$SERVICE" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$TMP/addr" ] && break; sleep 0.05; done
ADDR=$(cat "$TMP/addr")
URL="http://$ADDR/"
export PEERS_COUNT_URL="http://$ADDR/count"
log "server on $ADDR, service $SERVICE"

QPS=$(awk -v r="$RATE" 'BEGIN { printf "%g", r / 20 }')
# The command line of each tool in each mode; the same for every round.
declare -A CMD
CMD[closed-storm]="$B/hangup storm --patience inf --users $USERS --duration ${DURATION}s --json $URL"
CMD[closed-hey]="$B/hey -c $USERS -z ${DURATION}s $URL"
CMD[closed-vegeta]="$B/vegeta attack -rate 0 -max-workers $USERS -workers $USERS -duration ${DURATION}s -targets $TMP/targets -output $TMP/vegeta.bin"
CMD[open-storm]="$B/hangup storm --patience inf --rate $RATE --duration ${DURATION}s --json $URL"
CMD[open-hey]="$B/hey -c 20 -q $QPS -z ${DURATION}s $URL"
CMD[open-vegeta]="$B/vegeta attack -rate $RATE/1s -duration ${DURATION}s -targets $TMP/targets -output $TMP/vegeta.bin"
echo "GET $URL" >"$TMP/targets"

TOOLS=(storm hey vegeta)
for r in $(seq "$ROUNDS"); do
	for mode in closed open; do
		for i in 0 1 2; do
			t=${TOOLS[$(((i + r - 1) % 3))]}
			base=$RES/peers-$mode-$t-r$r
			ext=json
			[ "$t" != hey ] || ext=txt
			log "round $r: $mode $t"
			# shellcheck disable=SC2086 # the command lines are word lists
			"$B/peers" run "$base.cpu" "$base.$ext" -- ${CMD[$mode-$t]}
			if [ "$t" = vegeta ]; then
				"$B/vegeta" report -type json "$TMP/vegeta.bin" >"$base.json"
				rm -f "$TMP/vegeta.bin"
			fi
		done
	done
done

hey_version=$(go version -m "$B/hey" | awk '$1 == "mod" { print $3 }')
vegeta_version=$(go version -m "$B/vegeta" | awk '$1 == "mod" { print $3 }')
flags() { # flags MODE: the tools' command lines, with the temporary paths shortened
	local t sep=
	printf '{'
	for t in "${TOOLS[@]}"; do
		printf '%s"%s": "%s"' "$sep" "$t" "$(echo "${CMD[$1-$t]}" | sed "s|$B/||g; s|$TMP/||g")"
		sep=', '
	done
	printf '}'
}
{
	printf '{\n  "date": "%s",\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf '  "command": "bash bench/peers.sh%s",\n' "$([ "$QUICK" = 1 ] && echo ' --quick')"
	printf '  "machine": "%s cores (%s), %s, Linux %s",\n' "$(nproc)" \
		"$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | sed 's/ [0-9]*-Core Processor//')" \
		"$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)"
	printf '  "versions": {"go": "%s", "hey": "%s", "vegeta": "%s"},\n' "$(go env GOVERSION)" "$hey_version" "$vegeta_version"
	printf '  "service": "%s", "duration": "%ss", "rounds": %d,\n' "$SERVICE" "$DURATION" "$ROUNDS"
	printf '  "modes": [\n'
	printf '    {"id": "closed", "what": "Closed loop: %d at once, as fast as answers come", "flags": %s},\n' "$USERS" "$(flags closed)"
	printf '    {"id": "open", "what": "Open loop: %s requests per second", "flags": %s}\n' "$RATE" "$(flags open)"
	printf '  ]\n}\n'
} >"$RES/peers-meta.json"

if [ "$QUICK" = 1 ] && [ -z "$OUT" ]; then
	"$B/peers" table "$RES"
	exit 0
fi
OUT=${OUT:-$ROOT/bench/results}
mkdir -p "$OUT"
rm -f "$OUT"/peers-*
cp "$RES"/peers-* "$OUT/"
if [ "$OUT" = "$ROOT/bench/results" ]; then
	"$B/peers" table "$OUT" >"$ROOT/bench/PEERS.md"
	log "wrote bench/PEERS.md and bench/results/peers-*"
else
	"$B/peers" table "$OUT"
fi
