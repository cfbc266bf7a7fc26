//! What can go wrong building a simulation, reading a scenario or writing a picture.

/// A simulation that could not be built or a file that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The robot description does not have the shape the simulator (a planar tree of capsule
    /// links and revolute joints rooted at the IMU link, each contact link hanging from a
    /// joint) or the expert (the reference biped's) needs.
    #[error("robot {robot}: {field}: {problem}")]
    UnsupportedRobot { robot: String, field: String, problem: String },
    #[error("{file}: cannot read: {message}")]
    Read { file: String, message: String },
    /// The TOML did not parse, or named a field that `what` does not have.
    #[error("{file}: not a valid {what}: {message}")]
    Parse { file: String, what: &'static str, message: String },
    /// Parsed, but a value is out of range.
    #[error("{file}: {field} = {value}: {fix}")]
    Invalid { file: String, field: String, value: String, fix: String },
    /// The plant refused a command of the controller (e.g. a non-finite target).
    #[error("the simulator refused the controller's command at tick {tick}: {message}")]
    Refused { tick: u64, message: String },
    /// The controller driving a sweep's episode failed (its model would not load, a log
    /// could not be written); `message` says why.
    #[error("{message}")]
    Driver { message: String },
    /// Writing the animation failed.
    #[error("{file}: cannot write the animation: {message}")]
    Render { file: String, message: String },
}

impl SimError {
    /// The builder every validation uses: `origin`'s `field` is `value`; `fix` says what
    /// would do.
    pub(crate) fn invalid(origin: &str) -> impl Fn(&str, String, &str) -> SimError + '_ {
        move |field, value, fix| SimError::Invalid {
            file: origin.into(),
            field: field.into(),
            value,
            fix: fix.into(),
        }
    }
}
