#!/usr/bin/env bash
# `make run`: Qiao with live traffic. Starts the platform simulators (DingTalk, WeCom, Feishu, Kingdee, Jira,
# Weaver e-cology) on the loopback ports and with the credentials examples/qiao.toml names, then `qiao serve` with
# that config. On a first start (no admin key saved yet) it makes an admin API key for the data directory and
# saves it to DATA_DIR/demo-admin-key (0600); whenever the enterprise directory is empty it pushes
# examples/demo-directory.json and links its people to their accounts on DingTalk, WeCom and Feishu (a directory
# sync that only links: the simulators' seeded users are those people). Then it prints the API base, the console URL
# and the key, and serves until Ctrl-C (or SIGTERM), which stops Qiao and every simulator.
#
#   scripts/run-demo.sh            # serve (what `make run` does after building and signing the connectors)
#   scripts/run-demo.sh --fresh    # forget the previous demo first (its data directory): the simulators start
#                                  # from their seed data every time, so after a sync that created accounts on
#                                  # them, Qiao's links to those accounts point at nothing: start fresh
#   scripts/run-demo.sh --check    # start everything in a scratch data directory, walk the README's quick start
#                                  # (messages, approvals and their callbacks, a directory sync), assert, stop;
#                                  # exit 0 or 1
#   --no-build                     # use the simulators already built in target/debug
#
# Environment: QIAO_BIN (default target/release/qiao, built by `make build`), QIAO_DEMO_DATA_DIR (default
# target/qiao-data; --check uses target/demo-check-data). The simulators are debug builds of the test crate's
# binaries (tests/src/bin), built here with cargo; DingTalk's, WeCom's and Feishu's also serve a control port
# (9111-9113: POST /approvals/{id}/approve|reject, the approver acting in the app). Logs: target/demo-logs/*.log.
# Needs bash, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=0
FRESH=0
BUILD=1
for arg in "$@"; do
    case "$arg" in
        --check) CHECK=1 ;;
        --fresh) FRESH=1 ;;
        --no-build) BUILD=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run-demo: unknown argument $arg (see --help)" >&2
            exit 2
            ;;
    esac
done

QIAO_BIN=${QIAO_BIN:-target/release/qiao}
CONFIG=examples/qiao.toml
DIRECTORY=examples/demo-directory.json
CONNECTORS_DIR=target/connectors
LOG_DIR=target/demo-logs
SIM_DIR=target/debug
LISTEN=127.0.0.1:8080
API=http://$LISTEN
SERVE_ARGS=()
if [ "$CHECK" = 1 ]; then
    DATA_DIR=target/demo-check-data
    FRESH=1
    # Compiled connectors kept across checks (the cache is keyed by the file's hash and the engine's version).
    SERVE_ARGS=(--cache-dir target/demo-check-cache)
else
    DATA_DIR=${QIAO_DEMO_DATA_DIR:-target/qiao-data}
fi
KEY_FILE=$DATA_DIR/demo-admin-key

# name, port, whether the simulator pushes callbacks to /v1/hooks/<connection> (examples/qiao.toml's names), and
# its control port (POST /approvals/{id}/approve|reject: the approver acts in the app; "-": none).
SIMS=(
    "dingtalk 9101 hooks 9111"
    "wecom 9102 hooks 9112"
    "feishu 9103 hooks 9113"
    "kingdee 9104 - -"
    "jira 9105 hooks -"
    "ecology 9106 - -"
)

if [ -t 2 ]; then
    say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
else
    say() { printf '==> %s\n' "$*" >&2; }
fi
die() {
    printf 'run-demo: %s\n' "$*" >&2
    exit 1
}

for tool in curl python3; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
[ -x "$QIAO_BIN" ] || die "$QIAO_BIN is missing: run \`make build\` (or set QIAO_BIN to a qiao binary)"
ls "$CONNECTORS_DIR"/*.wasm >/dev/null 2>&1 || die "no connectors in $CONNECTORS_DIR: run \`make build\`"

# Something already listening on one of the ports (an earlier demo still running?) would answer in our place.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 8080 $(printf '%s\n' "${SIMS[@]}" | cut -d' ' -f2,4 | tr ' -' '\n\n'); do
    if listening "$port"; then
        die "127.0.0.1:$port is taken (an earlier demo still running? \`pgrep -fa -- '-sim|qiao serve'\`)"
    fi
done

if [ "$BUILD" = 1 ]; then
    say "building the simulators (cargo build -p qiao-tests, debug)"
    bins=()
    for sim in "${SIMS[@]}"; do bins+=(--bin "${sim%% *}-sim"); done
    cargo build -p qiao-tests "${bins[@]}"
fi

# Children: started in the background, stopped (TERM, then waited for) on exit, Ctrl-C or SIGTERM.
NAMES=()
PIDS=()
QIAO_PID=
stopping=0
stop_all() {
    [ "$stopping" = 1 ] && return
    stopping=1
    trap '' INT TERM
    if [ ${#PIDS[@]} -gt 0 ]; then
        say "stopping Qiao and the simulators"
    fi
    # Qiao first (it finishes or hands back its calls in flight within 10 s), then the simulators it calls.
    if [ -n "$QIAO_PID" ] && kill -0 "$QIAO_PID" 2>/dev/null; then
        kill -TERM "$QIAO_PID" 2>/dev/null || true
        wait "$QIAO_PID" 2>/dev/null || true
    fi
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_all' EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

start() { # name log command...
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    NAMES+=("$name")
    PIDS+=($!)
}

# The first child that exited, as "name (log)"; nothing while all run.
exited() {
    local i
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            echo "${NAMES[$i]} (see $LOG_DIR/${NAMES[$i]}.log)"
            return
        fi
    done
}

mkdir -p "$LOG_DIR"
if [ "$FRESH" = 1 ] && [ -d "$DATA_DIR" ]; then
    say "forgetting the previous demo ($DATA_DIR)"
    rm -rf "$DATA_DIR"
fi
mkdir -p "$DATA_DIR"

say "starting the simulators"
for sim in "${SIMS[@]}"; do
    read -r name port hooks control <<<"$sim"
    args=(--listen "127.0.0.1:$port")
    [ "$hooks" = hooks ] && args+=(--callback-url "$API/v1/hooks/$name")
    [ "$control" != - ] && args+=(--control-listen "127.0.0.1:$control")
    start "$name-sim" "$LOG_DIR/$name-sim.log" "$SIM_DIR/$name-sim" "${args[@]}"
done
for sim in "${SIMS[@]}"; do
    read -r name port _ control <<<"$sim"
    for _ in $(seq 1 600); do
        listening "$port" && { [ "$control" = - ] || listening "$control"; } && break
        [ -n "$(exited)" ] && die "$(exited) stopped while starting"
        sleep 0.1
    done
    listening "$port" || die "$name-sim is not listening on 127.0.0.1:$port after 60 s"
    if [ "$control" = - ]; then
        printf '    %-12s http://127.0.0.1:%s\n' "$name-sim" "$port" >&2
    else
        printf '    %-12s http://127.0.0.1:%s  (the approver in the app: http://127.0.0.1:%s/approvals/ID/approve)\n' \
            "$name-sim" "$port" "$control" >&2
    fi
done

# The admin key, made before the server starts (the key store is the server's database; a running server would
# accept a key made later just the same).
if [ ! -s "$KEY_FILE" ]; then
    say "first start: making an admin API key for $DATA_DIR"
    (
        umask 077
        "$QIAO_BIN" keys create --data-dir "$DATA_DIR" --name demo-admin --scope admin >"$KEY_FILE.tmp" 2>"$LOG_DIR/keys.log" ||
            {
                cat "$LOG_DIR/keys.log" >&2
                exit 1
            }
        mv "$KEY_FILE.tmp" "$KEY_FILE"
    )
    chmod 600 "$KEY_FILE"
fi
KEY=$(cat "$KEY_FILE")

say "starting Qiao (log: $LOG_DIR/qiao.log)"
start qiao "$LOG_DIR/qiao.log" "$QIAO_BIN" serve --config "$CONFIG" --connectors-dir "$CONNECTORS_DIR" \
    --data-dir "$DATA_DIR" --listen "$LISTEN" ${SERVE_ARGS[@]+"${SERVE_ARGS[@]}"}
QIAO_PID=${PIDS[${#PIDS[@]} - 1]}

# Ready when every connector has loaded: /readyz where the server has it, else the port answering /healthz (which
# opens after the connectors have loaded). A first start compiles them (about 20 s, cached in the data dir after).
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$API$1" || true; }
ready=0
for i in $(seq 1 600); do
    case "$(code /readyz)" in
        200) ready=1 ;;
        404) [ "$(code /healthz)" = 200 ] && ready=1 ;;
    esac
    [ "$ready" = 1 ] && break
    if [ -n "$(exited)" ]; then
        tail -20 "$LOG_DIR/qiao.log" >&2 || true
        die "$(exited) stopped while starting"
    fi
    [ "$i" = 15 ] && say "waiting for the connectors to compile (first start: ~20 s in release, a minute in debug)"
    sleep 0.5
done
[ "$ready" = 1 ] || die "Qiao did not become ready in 300 s (see $LOG_DIR/qiao.log)"

# An API call: METHOD PATH [JSON body]; prints the body, fails on a status >= 400 (naming it).
api() {
    local method=$1 path=$2 body=${3-} out status
    local args=(-s -X "$method" -H "authorization: Bearer $KEY" -w '\n%{http_code}' --max-time 60)
    [ -n "$body" ] && args+=(-H 'content-type: application/json' --data-binary "$body")
    out=$(curl "${args[@]}" "$API$path") || {
        echo "run-demo: $method $path: no answer" >&2
        return 1
    }
    status=${out##*$'\n'}
    out=${out%$'\n'*}
    if [ "$status" -ge 400 ]; then
        echo "run-demo: $method $path answered $status: $out" >&2
        return 1
    fi
    printf '%s\n' "$out"
}
# A JSON value out of stdin: a Python expression over `j`, e.g. json_get 'j["people"][0]["id"]'.
json_get() { python3 -c 'import json,sys; j=json.load(sys.stdin); v=eval(sys.argv[1]); print(v if isinstance(v,str) else json.dumps(v))' "$1"; }

people=$(api GET /v1/directory | json_get 'len(j.get("people") or [])')
if [ "$people" = 0 ]; then
    say "pushing the demo directory ($DIRECTORY) and linking its people on DingTalk, WeCom and Feishu"
    QIAO_API_KEY=$KEY "$QIAO_BIN" directory push --url "$API" "$DIRECTORY" >&2
    for connection in dingtalk wecom feishu; do
        QIAO_API_KEY=$KEY "$QIAO_BIN" directory sync --url "$API" "$connection" >"$LOG_DIR/sync-$connection.log" 2>&1 ||
            die "the first sync to $connection failed: $(cat "$LOG_DIR/sync-$connection.log")"
        head -1 "$LOG_DIR/sync-$connection.log" | sed 's/^/    /' >&2
    done
fi

banner() {
    cat >&2 <<EOF

  Qiao is serving, with the platform simulators behind its connections (examples/qiao.toml):
    API base      $API/v1
    console       $API/console
    admin key     $KEY
                  (saved in $KEY_FILE)
    simulators    dingtalk :9101  wecom :9102  feishu :9103  kingdee :9104  jira :9105  ecology :9106
    approvers     POST http://127.0.0.1:9111/approvals/ID/approve (DingTalk; WeCom :9112, Feishu :9113; or /reject)
    logs          $LOG_DIR/

  Try it (README "Quick start"):
    export QIAO_API_KEY=\$(cat $KEY_FILE)
    curl -s -H "authorization: Bearer \$QIAO_API_KEY" -H 'content-type: application/json' \\
         -XPOST '$API/v1/messages?wait=10' -d '{"to": {"people": ["p-lina"]}, "text": "hello"}'

  Ctrl-C stops Qiao and the simulators. The simulators start from their seed data each time; \`scripts/run-demo.sh --fresh\`
  also forgets Qiao's side (the data directory).
EOF
}

# --check: the quick start's steps, asserted.
check() {
    local out id
    say "check: a message to a person, on their preferred platform (WeCom)"
    out=$(api POST '/v1/messages?wait=10' '{"to": {"people": ["p-lina"]}, "text": "hello from the demo check"}')
    [ "$(json_get '[(d["connection"], d["status"], d["users"]) for d in j["deliveries"]] == [("wecom", "succeeded", ["alice"])] and j["unresolved"] == []' <<<"$out")" = true ] ||
        die "message: $out"
    out=$(api POST '/v1/messages?wait=10' '{"to": {"people": ["p-lina", "p-zhangwei"]}, "text": "on Feishu", "platforms": ["feishu"]}')
    [ "$(json_get '[(d["connection"], d["status"], sorted(d["users"])) for d in j["deliveries"]] == [("feishu", "succeeded", ["alice", "bob"])]' <<<"$out")" = true ] ||
        die "message on Feishu: $out"

    say "check: an approval on DingTalk, approved, and its callbacks back in the event log"
    out=$(api POST '/v1/connections/dingtalk/approvals?wait=10' \
        '{"template": "PROC-LEAVE", "applicant_person": "p-lina", "approver_people": ["p-wangfang"], "fields": [{"name": "reason", "value": "家里有事"}, {"name": "days", "value": "2"}]}')
    id=$(json_get 'j["id"]' <<<"$out")
    [ "$(api GET "/v1/connections/dingtalk/approvals/$id" | json_get 'j["status"]')" = pending ] || die "approval $id is not pending"
    api POST "/v1/connections/dingtalk/approvals/$id/approve?wait=10" '{"actor": "manager1", "comment": "好的"}' >/dev/null
    local seen=0
    for _ in $(seq 1 50); do
        out=$(api GET "/v1/events?connection=dingtalk&limit=1000")
        if [ "$(json_get "any(e['type'] == 'approval.status_changed' and e['subject'] == '$id' and e['payload']['status'] == 'approved' for e in j['events'])" <<<"$out")" = true ]; then
            seen=1
            break
        fi
        sleep 0.2
    done
    [ "$seen" = 1 ] || die "no approved callback for $id: $out"
    [ "$(api GET "/v1/connections/dingtalk/approvals/$id" | json_get 'j["status"]')" = approved ] || die "approval $id is not approved"

    say "check: an approval on WeCom, rejected by its approver in the app (the simulator's control port)"
    out=$(api POST '/v1/connections/wecom/approvals?wait=10' \
        '{"template": "tpl-leave", "applicant_person": "p-zhangwei", "fields": [{"name": "Text-1", "value": "看病"}, {"name": "Number-1", "value": "1", "kind": "Number"}]}')
    id=$(json_get 'j["id"]' <<<"$out")
    curl -sf -X POST "http://127.0.0.1:9112/approvals/$id/reject" >/dev/null || die "the WeCom simulator's control port refused $id"
    seen=0
    for _ in $(seq 1 50); do
        out=$(api GET "/v1/events?connection=wecom&limit=1000")
        if [ "$(json_get "any(e['type'] == 'approval.status_changed' and e['subject'] == '$id' and e['payload']['status'] == 'rejected' and e.get('echo_of') is None for e in j['events'])" <<<"$out")" = true ]; then
            seen=1
            break
        fi
        sleep 0.2
    done
    [ "$seen" = 1 ] || die "no rejected callback for $id: $out"
    [ "$(api GET "/v1/connections/wecom/approvals/$id" | json_get 'j["status"]')" = rejected ] || die "approval $id is not rejected"

    say "check: a new hire in the directory, synced to WeCom, then messaged there"
    api POST /v1/directory/changes \
        '{"upsert": {"people": [{"id": "p-chenjing", "name": "Chen Jing", "mobile": "13800000004", "email": "chenjing@example.com", "title": "Account Manager", "manager_id": "p-wangfang", "department_ids": ["sales"]}]}}' >/dev/null
    out=$(api POST '/v1/connections/wecom/directory/runs?wait=30' '{}')
    [ "$(json_get '(j["status"], j["report"]["done"], j["report"]["failed"])' <<<"$out")" = '["succeeded", 1, 0]' ] ||
        die "sync to WeCom: $out"
    out=$(api POST '/v1/messages?wait=10' '{"to": {"people": ["p-chenjing"]}, "text": "welcome"}')
    [ "$(json_get '[(d["connection"], d["status"], d["users"]) for d in j["deliveries"]] == [("wecom", "succeeded", ["p-chenjing"])]' <<<"$out")" = true ] ||
        die "message to the new hire: $out"

    say "check: Kingdee polled, Jira and e-cology answering"
    api POST /v1/connections/kingdee/poll >/dev/null
    api GET '/v1/connections/jira/tasks?limit=1' >/dev/null
    api POST /v1/connections/ecology/poll >/dev/null
    say "check passed"
}

if [ "$CHECK" = 1 ]; then
    started=$SECONDS
    check
    stop_all
    say "check: everything stopped ($((SECONDS - started)) s of checks)"
    exit 0
fi

banner
while [ -z "$(exited)" ]; do
    sleep 1 &
    wait $! || true
done
die "$(exited) stopped; stopping the rest"
