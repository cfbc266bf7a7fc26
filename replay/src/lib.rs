//! What a recorded log says about a model: offline, teacher-forced evaluation.
//!
//! This crate owns [`evaluate`]: every tick of a log (a `collect` demonstration, a
//! `sim --log` or `deploy --log` run) is fed through the same tract runtime that deploys the
//! model (`strider_policy::PolicyBatch`: the streaming graph, many episodes per call), with the *recorded* observation
//! and the *recorded* previous action, and the model's two outputs are compared with the
//! recording: its action with the recorded action (per joint, rad), and its prediction of
//! each observation (made one token earlier, before seeing it) with the observation that
//! came (per field, in the field's unit and normalised) — the next-token error of the
//! trajectory-transformer papers. Masked fields and missing actions count as `[M]`, never
//! silently dropped.
//!
//! It also owns re-simulation ([`resim`]): a simulator log replayed from each episode's
//! recorded start, its commands open loop or its policy closed loop, and where the replay
//! first departs from the recording (`strider replay --into-sim`).
//!
//! It does not read or write log files (`strider-log`), run models (`strider-policy`),
//! simulate (`strider-sim`) or print tables (the CLI, `strider replay --model`).

mod eval;
pub mod resim;

pub use eval::{
    EpisodeTrace, EvalError, EvalOptions, Evaluation, FieldError, SurpriseSummary, SurprisingTick, TraceTick,
    Worst, evaluate,
};
