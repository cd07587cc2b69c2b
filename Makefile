# The two commands a new user needs: `make run` and `make test`. Both build everything from source first.
.PHONY: run test connectors build bench

# Every connector (Rust, JavaScript, Python) into target/connectors (+ test fixtures into target/test-connectors).
connectors:
	scripts/build-connectors.sh

build: connectors
	cargo build --release -p qiao

# Qiao on http://127.0.0.1:8080 with the bundled connectors and examples/qiao.toml, data in target/qiao-data.
run: build
	./target/release/qiao serve --config examples/qiao.toml --plugins-dir target/connectors --data-dir target/qiao-data

# Every test: unit tests, then end-to-end tests against real components, real HTTP and real SQLite files.
# Connectors are Wasm guests (built above by their build.sh), so they are left out of the native test build.
GUESTS := qiao-echo qiao-hostile qiao-dingtalk qiao-wecom qiao-feishu qiao-kingdee
# The `qiao` binary itself is built first: the crash, shutdown and CLI tests run it as a child process.
test: connectors
	cargo build -p qiao --bin qiao
	cargo test --workspace $(addprefix --exclude ,$(GUESTS))

# The host call overhead (criterion), then the outbox's throughput: accepted/s and delivered/s, with baselines.
bench: connectors
	cargo bench -p qiao --bench call
	cargo bench -p qiao-tests --bench outbox
