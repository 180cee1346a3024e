# The two commands a newcomer needs: `make serve` and `make test`.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/freshet-target

.PHONY: serve test prereqs fmt clippy bench

serve: prereqs
	cargo run --release -p freshet-server --bin freshet -- serve

test:
	scripts/test.sh

prereqs:
	@scripts/prereqs.sh

fmt:
	cargo fmt --all

clippy: prereqs
	cargo clippy --workspace --all-targets -- -D warnings

bench: prereqs
	cargo bench -p freshet-storage
