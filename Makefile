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
test: connectors
	cargo test --workspace $(addprefix --exclude ,$(GUESTS))

bench: connectors
	cargo bench -p qiao --bench call
