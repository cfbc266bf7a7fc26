//! The trajectory policy end to end: a model trained in candle, exported to ONNX by
//! `strider-train`, loaded and run by tract in `strider-policy`.
//!
//! - `parity`: candle and tract compute the same outputs on the exported file, at every
//!   window fill level and with `[M]` masks, and `Policy::step` matches candle on the
//!   same history.
//! - `manifest`: every kind of manifest mismatch is refused, naming the field.
//! - `replay_eval`: offline, teacher-forced evaluation on a recorded log agrees with candle
//!   metric by metric, and refuses a log of another robot.
//! - `byo`: a PyTorch-made window graph (a checked-in fixture) computes in tract what it
//!   computed in PyTorch.

mod byo;
mod common;
mod manifest;
mod parity;
mod replay_eval;
