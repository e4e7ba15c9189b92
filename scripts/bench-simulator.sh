#!/usr/bin/env bash
# Measures the simulator (release build): requests/s of POST listenerRegistrations,
# requests/s of event routing with 100 listeners (queries evaluated, none matching;
# then all matching, delivered to a local sink), and the process RSS at 10,000
# registrations. Needs wrk (apt-get install -y wrk) and python3.
#
#   scripts/bench-simulator.sh [DURATION_SECONDS]
set -euo pipefail

duration="${1:-10}"
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --quiet --bin cxf-operator
bin=target/release/cxf-operator
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

RUST_LOG=warn "$bin" simulator --no-auth --listen 127.0.0.1:0 --delivery-attempts 1 >"$work/sim.out" 2>"$work/sim.err" &
pids+=($!)
sim_pid=$!
for _ in $(seq 100); do [[ -s "$work/sim.out" ]] && break; sleep 0.1; done
base="$(head -1 "$work/sim.out" | sed 's/^listening on //')"
echo "simulator: $base (pid $sim_pid), $(nproc) CPUs, wrk -t2 -c32 -d${duration}s"

# A sink listener: answers 200 to every request (keep-alive), on a free port.
cat >"$work/sink.py" <<'PY'
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY
python3 "$work/sink.py" >"$work/sink.out" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/sink.out" ]] && break; sleep 0.1; done
sink="http://127.0.0.1:$(head -1 "$work/sink.out")"

registration='{"affiliated-apis":[{"api-name":"taxCalculation","api-number":"orcl-200","api-version":"v1","query":"(/eventType eq \"/event/TaxEvent3\" or /eventType eq \"/event/TaxEvent1\")"}],"listener-locality":{"external-listener":{"listener-url":"http://127.0.0.1:9/events"}},"type":"external"}'

post_script() { # body file -> wrk lua script
  cat >"$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/$1.json"); wrk.body = f:read("*a"); f:close()
LUA
}
rate() { grep 'Requests/sec' | awk '{print $2}'; }
non2xx() { grep -E 'Non-2xx|Socket errors' || true; }

echo "RSS at start: $(awk '/VmRSS/ {print $2, $3}' /proc/$sim_pid/status)"
python3 - "$base" "$registration" <<'PY'
import http.client, sys, urllib.parse
base, body = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(base)
c = http.client.HTTPConnection(u.hostname, u.port)
for _ in range(10000):
    c.request("POST", "/admin/01/listenerRegistrations", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
PY
count="$(curl -sf "$base/admin/01/listenerRegistrations" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
echo "RSS at $count registrations: $(awk '/VmRSS/ {print $2, $3}' /proc/$sim_pid/status)"

echo "$registration" >"$work/registration.json"
post_script registration
out="$(wrk -t2 -c32 -d"${duration}s" -s "$work/registration.lua" "$base/admin/01/listenerRegistrations")"
echo "POST listenerRegistrations: $(echo "$out" | rate) requests/s"; echo "$out" | non2xx

# 100 listeners on Party v4; first with queries no event matches.
register_100() { # query
  curl -sf -X POST "$base/sim/reset" >/dev/null
  for i in $(seq 100); do
    curl -sf -X POST "$base/api/01/Party/v4/hub" -H 'Content-Type: application/json' \
      -d "{\"callback\": \"$sink/events/$i\", \"query\": $1}" >/dev/null
  done
}
event='{"envelope":{"eventType":"IndividualCreateEvent","event":{"individual":{"id":"CDRM_1","familyName":"Doe"}}},"ids":["CDRM_1"],"op":"POST","api-name":"Party","api-version":"v4","gatekeeper":"tmf632"}'
echo "$event" >"$work/event.json"
post_script event

register_100 '"/eventType eq \"IndividualDeleteEvent\" and /event/individual/familyName eq \"Doe\""'
out="$(wrk -t2 -c32 -d"${duration}s" -s "$work/event.lua" "$base/sim/01/events")"
echo "event routing, 100 listeners, none matching: $(echo "$out" | rate) events/s"; echo "$out" | non2xx

register_100 '"/eventType eq \"IndividualCreateEvent\" and /event/individual/familyName eq \"Doe\""'
out="$(wrk -t2 -c32 -d"${duration}s" -s "$work/event.lua" "$base/sim/01/events?wait=true")"
events="$(echo "$out" | rate)"
echo "event routing, 100 listeners, all matching, delivered (wait=true): $events events/s = $(python3 -c "print(round($events * 100))") deliveries/s"; echo "$out" | non2xx
echo "RSS after the runs: $(awk '/VmRSS/ {print $2, $3}' /proc/$sim_pid/status)"
