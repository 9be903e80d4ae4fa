//! Build-only package: `cargo build -p mesh-rocksdb-backend` produces
//! `libzenoh_backend_rocksdb.so` in the target directory's `deps/`, the
//! RocksDB volume that `kioku-mesh serve` loads beside its executable.
//!
//! It exists so that the CLI itself never depends on librocksdb-sys, whose
//! build needs libclang: local mode builds with only a Rust toolchain and a
//! C compiler. `cargo xtask install` and `cargo xtask dist` build this
//! package and copy the library beside the binaries.
