#!/usr/bin/env bash
# The service machinery against a real daemon on a real cluster, through curl and the CLI:
# health, pools, operations, events, metrics, limits and bad input, the read-only socket.
. "$(dirname "$0")/lib.sh"

daemon_config "max_body = 64K"
daemon_start

# ---- health and pools ----
expect_status "health answers" 200 GET /v1/health
jq_check "health is ok with the cluster reachable and pools ready" \
	'.status == "ok" and .cluster.reachable and .pools.ready and (.version | length > 0)'
expect_status "pools are listed" 200 GET /v1/pools
jq_check "four pools with our names, existing, with capacity" \
	"[.pools[] | select(.exists and .available > 0 and (.name | startswith(\"$PREFIX-\")))] | length == 4"
if ceph -c "$CAIRN_TEST_CEPH_CONF" osd pool application get "$PREFIX-volumes" 2>/dev/null | grep -q '"rbd"'; then
	ok "the volumes pool really has the rbd application in Ceph"
else
	not_ok "the volumes pool really has the rbd application in Ceph"
fi
expect_status "pools init is idempotent" 200 POST /v1/pools/init

# ---- the sockets ----
mode=$(stat -c %a "$SOCK")
[ "$mode" = 660 ] && ok "socket mode is 0660" || not_ok "socket mode is 0660" "got $mode"
API_SOCK=$RO_SOCK expect_status "a GET on the read-only socket works" 200 GET /v1/health
API_SOCK=$RO_SOCK expect_status "a POST on the read-only socket is forbidden" 403 POST /v1/pools/init
jq_check "403 says the socket is read-only" '.error.reason == "forbidden" and (.error.message | test("read-only"))'

# ---- errors ----
expect_status "unknown route" 404 GET /v1/nothing-here
jq_check "404 has the error shape" '.error.code == 404 and .error.reason == "not_found" and (.error.message | length > 0)'
expect_status "wrong method" 405 PUT /v1/health
expect_status "unknown operation" 404 GET /v1/operations/00000000-0000-4000-8000-000000000000
expect_status "operation id that is not a uuid" 404 GET /v1/operations/nope
expect_status "bad wait timeout" 400 GET "/v1/operations/00000000-0000-4000-8000-000000000000/wait?timeout=abc"
expect_status "bad status filter" 400 GET "/v1/operations?status=sleeping"
expect_status "malformed JSON" 400 POST /v1/pools/init '{"a":'
jq_check "malformed JSON is named" '.error.message | test("JSON")'
expect_status "unknown field" 400 POST /v1/pools/init '{"colour":"blue"}'
jq_check "the unknown field is named" '.error.message | test("colour")'

head -c $((128 * 1024)) /dev/zero | tr '\0' 'a' >"$T/big"
STATUS=$(curl -s -o "$T/big.out" -w '%{http_code}' --unix-socket "$SOCK" -X POST \
	-H 'Content-Type: application/json' --data-binary @"$T/big" http://cairn/v1/pools/init)
[ "$STATUS" = 413 ] && ok "an oversized body is 413" || not_ok "an oversized body is 413" "got $STATUS"

printf 'THIS IS NOT HTTP\r\n\r\n' >"$T/garbage"
reply=$(raw_http "$T/garbage")
case "$reply" in
HTTP/1.1\ 400*) ok "malformed HTTP is 400" ;;
*) not_ok "malformed HTTP is 400" "got: ${reply:0:200}" ;;
esac

{
	printf 'GET /v1/health HTTP/1.1\r\nHost: cairn\r\n'
	for i in $(seq 1 2000); do printf 'X-Flood-%d: %s\r\n' "$i" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; done
	printf '\r\n'
} >"$T/flood"
reply=$(raw_http "$T/flood")
case "$reply" in
HTTP/1.1\ 431*) ok "a header flood is 431" ;;
*) not_ok "a header flood is 431" "got: ${reply:0:200}" ;;
esac

printf 'GET /v1/health HTTP/1.1\r\nHost: cairn\r\n\r\nGET /v1/pools HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\n\r\n' >"$T/pipe"
reply=$(raw_http "$T/pipe")
n=$(printf '%s' "$reply" | grep -o 'HTTP/1.1 200' | wc -l)
first=$(printf '%s' "$reply" | grep -o '"status":"ok"\|"pools":' | head -1)
[ "$n" = 2 ] && [ "$first" = '"status":"ok"' ] && ok "two pipelined requests are answered in order" ||
	not_ok "two pipelined requests are answered in order" "got $n answers, first $first"

check "the daemon still serves after all that" curl -sf --unix-socket "$SOCK" -o /dev/null http://cairn/v1/health

# ---- events and metrics ----
curl -sN --max-time 3 --unix-socket "$SOCK" http://cairn/v1/events >"$T/events" 2>/dev/null &
ev_pid=$!
sleep 0.5
api GET /v1/health
wait $ev_pid 2>/dev/null
if head -1 "$T/events" | jq -e '.type == "hello"' >/dev/null 2>&1; then
	ok "the event stream opens with a JSON line"
else
	not_ok "the event stream opens with a JSON line" "got: $(head -c 200 "$T/events")"
fi

expect_status "metrics answer" 200 GET /metrics
for m in cairn_http_requests_total cairn_http_request_duration_seconds_bucket cairn_operations \
	cairn_worker_queue_depth cairn_cluster_errors_total; do
	printf '%s' "$BODY_OUT" | grep -q "^$m" && ok "metrics have $m" || not_ok "metrics have $m"
done
printf '%s' "$BODY_OUT" | grep -q 'route="/v1/health",code="2xx"' && ok "requests are counted by route and status" ||
	not_ok "requests are counted by route and status"

# ---- the CLI ----
if out=$("$CAIRN" health 2>&1); then ok "cairn health"; else not_ok "cairn health" "$out"; fi
if out=$("$CAIRN" --json pool list 2>&1) && printf '%s' "$out" | jq -e '.pools | length == 4' >/dev/null; then
	ok "cairn --json pool list prints the API's JSON"
else
	not_ok "cairn --json pool list prints the API's JSON" "$out"
fi
"$CAIRN" --socket "$T/nothing.sock" health >/dev/null 2>&1
rc=$?
[ $rc = 3 ] && ok "cairn exits 3 when cairnd cannot be reached" || not_ok "cairn exits 3 when cairnd cannot be reached" "exit $rc"

# ---- the log: mutating requests name their peer ----
grep -q "uid=$(id -u) gid=$(id -g) pid=[0-9]* POST /v1/pools/init" "$T/cairnd.log" &&
	ok "a mutating request is logged with the peer's uid, gid and pid" ||
	not_ok "a mutating request is logged with the peer's uid, gid and pid"

# ---- SIGHUP reloads the log level and keeps serving ----
sed -i 's/^log_level = debug/log_level = info/' "$T/cairn.conf"
kill -HUP "$DAEMON_PID"
sleep 0.5
grep -q "reload: log level is now info" "$T/cairnd.log" && ok "SIGHUP reloads the log level" ||
	not_ok "SIGHUP reloads the log level"
check "cairnd still serves after SIGHUP" curl -sf --unix-socket "$SOCK" -o /dev/null http://cairn/v1/health

# ---- stop ----
if daemon_stop; then ok "SIGTERM stops cairnd with exit 0"; else not_ok "SIGTERM stops cairnd with exit 0"; fi
[ ! -e "$SOCK" ] && ok "the socket file is removed at stop" || not_ok "the socket file is removed at stop"

tap_done
