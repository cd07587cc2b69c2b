# The two commands a new user needs: `make run` and `make test`. Both build everything from source first.
.PHONY: run test connectors build bench

# Every connector into target/connectors, and the test fixtures (hostile, echo-v2, and the connectors frozen at
# contract 0.1.0 in Rust, JavaScript and Python: tests/connectors/v0.1.0/) into target/test-connectors.
connectors:
	scripts/build-connectors.sh

# Then every connector built above is signed with this machine's build key (publisher qiao-build, made on first
# use in target/signing): the default [trust] policy is require, and examples/qiao.toml and the tests trust it.
build: connectors
	cargo build --release -p qiao
	scripts/sign-connectors.sh target/release/qiao

# Qiao on http://127.0.0.1:8080 with the platform simulators behind examples/qiao.toml's connections (ports
# 9101-9106, approver control ports 9111-9113), a demo directory pushed on first start, an admin key in
# target/qiao-data/demo-admin-key; Ctrl-C stops everything. scripts/run-demo.sh --help for --fresh.
run: build
	scripts/run-demo.sh

# Every test: unit tests, then end-to-end tests against real components, real HTTP and real SQLite files.
# Connectors are Wasm guests (built above by their build.sh), so they are left out of the native test build.
GUESTS := qiao-echo qiao-echo-v0-1-0 qiao-hostile qiao-dingtalk qiao-wecom qiao-feishu qiao-kingdee
# The `qiao` binary itself is built first: the crash, shutdown and CLI tests run it as a child process, and it
# signs the connectors with the build key, which the tests trust (a test's config without [trust] gets it). It is
# built in one invocation with the tests: built alone, its dependencies resolve to other features than the tests'
# and about 60 crates (cranelift among them) would compile twice on a clean clone.
# The SDKs' own unit tests (TypeScript, Python) run next, then each plugin connector's (plugins/NAME/build.sh --test);
# the Rust SDK's run in the workspace.
# The architecture's rules come first (no module cycles, crate dependencies one way: scripts/check-layers.py), and
# no released contract folder changed (scripts/check-contract.py against wit/RELEASED).
# Last, the servers' logs and every response of the whole run (target/test-logs) are grepped for every secret the
# tests configured: none may appear.
test: connectors
	scripts/check-layers.py
	scripts/check-contract.py
	sdk/python/run-tests.sh
	sdk/typescript/run-tests.sh
	for plugin in plugins/*/build.sh; do if [ -x $$plugin ]; then $$plugin --test; fi; done
	mkdir -p target; cargo build --workspace $(addprefix --exclude ,$(GUESTS)) --bins --tests 2>target/build.log; \
	  status=$$?; cat target/build.log >&2; [ $$status -eq 0 ] || { scripts/machine-report.sh target/build.log; exit 1; }
	scripts/sign-connectors.sh target/debug/qiao
	scripts/install-chromium.sh
	scripts/install-openapi-validator.sh
	rm -rf target/test-logs
	cargo test --workspace $(addprefix --exclude ,$(GUESTS)) || { scripts/machine-report.sh; exit 1; }
	# A guest's own unit tests that run natively: the Feishu frame codec against vectors from the official SDK.
	cargo test -p qiao-feishu --lib
	QIAO_BIN=target/debug/qiao scripts/run-demo.sh --check --no-build
	scripts/check-secret-leaks.sh target/test-logs

# The host call overhead (criterion), what the store costs a durable send next to the same rows written in plain
# rusqlite, then the outbox's throughput: accepted/s and delivered/s, with baselines;
# then directory sync, the connectors, and events evaluated against 100 rules next to the event store's own rate;
# fairness under abuse; events through one event stream next to webhooks; last, the durable send path next to raw
# HTTP, the official Feishu SDK (scripts/bench-peers.sh installs the SDK in target/bench-venv on first use) and the
# same durable send written natively (axum, rusqlite, reqwest: what Qiao's architecture costs).
bench: build
	cargo bench -p qiao-runtime --bench call
	cargo bench -p qiao-directory --bench plan
	cargo bench -p qiao-tests --bench store
	cargo bench -p qiao-tests --bench outbox
	cargo bench -p qiao-tests --bench sync
	cargo bench -p qiao-tests --bench connectors
	cargo bench -p qiao-tests --bench rules
	cargo bench -p qiao-tests --bench fairness
	cargo bench -p qiao-tests --bench streams
	cargo bench -p qiao-tests --bench throughput
