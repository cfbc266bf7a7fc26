//! The `strider` binary's package has no library: this empty target lets its own tests
//! depend on it with the `train` feature on (see `Cargo.toml`). Everything is in `main.rs`.
