//! Integration tests live in `tests/`; this library holds their shared support code.

pub mod support;
