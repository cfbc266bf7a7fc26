//! [`SpeedSchedule`]: the operator's forward-speed command over time, piecewise constant.
//!
//! Written `1.0,0@6,-0.3@12`: 1.0 m/s from the start, 0 from 6 s, −0.3 m/s from 12 s on. A
//! plain number (`0.5`) is a constant command.

use std::fmt;
use std::str::FromStr;

/// A forward-speed command (m/s) as a function of time since the start of a run (s):
/// a first value, then changes at strictly increasing times.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedSchedule {
    first: f64,
    /// (time s, speed m/s) from which each later value holds.
    changes: Vec<(f64, f64)>,
}

/// A schedule text that could not be read; the message names the item and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("speed schedule {text:?}: {problem}; write it as SPEED[,SPEED@SECONDS...], e.g. 1.0,0@6,-0.3@12")]
pub struct ScheduleError {
    pub text: String,
    pub problem: String,
}

impl SpeedSchedule {
    /// The same speed all the time.
    pub fn constant(speed_mps: f64) -> SpeedSchedule {
        SpeedSchedule { first: speed_mps, changes: Vec::new() }
    }

    /// `first` from the start, then each `(time_s, speed_mps)` from its time on. Times must
    /// be positive and strictly increasing, every number finite.
    pub fn new(first: f64, changes: Vec<(f64, f64)>) -> Result<SpeedSchedule, ScheduleError> {
        let schedule = SpeedSchedule { first, changes };
        schedule.check().map_err(|problem| ScheduleError { text: schedule.to_string(), problem })?;
        Ok(schedule)
    }

    fn check(&self) -> Result<(), String> {
        if !self.first.is_finite() {
            return Err(format!("the first speed {} is not a finite number", self.first));
        }
        let mut last = 0.0;
        for (k, &(t, v)) in self.changes.iter().enumerate() {
            let item = k + 2;
            if !v.is_finite() {
                return Err(format!("item {item}: the speed {v} is not a finite number"));
            }
            if !(t.is_finite() && t > last) {
                let after =
                    if k == 0 { "0 s".to_string() } else { format!("the previous change's {last} s") };
                return Err(format!("item {item}: the time {t} s must come after {after}"));
            }
            last = t;
        }
        Ok(())
    }

    /// The command at `t_s` seconds since the start (the first value before 0), as the
    /// observation carries it.
    pub fn at(&self, t_s: f64) -> f32 {
        self.speed_at(t_s) as f32
    }

    fn speed_at(&self, t_s: f64) -> f64 {
        self.changes.iter().take_while(|(t, _)| *t <= t_s).last().map_or(self.first, |&(_, v)| v)
    }

    /// The speed from the start, m/s.
    pub fn first(&self) -> f64 {
        self.first
    }

    /// The speed after the last change: what the schedule ends on.
    pub fn last(&self) -> f64 {
        self.changes.last().map_or(self.first, |&(_, v)| v)
    }

    /// The changes after the start: (time s, speed m/s).
    pub fn changes(&self) -> &[(f64, f64)] {
        &self.changes
    }

    /// The speed, if it never changes.
    pub fn as_constant(&self) -> Option<f64> {
        self.changes.is_empty().then_some(self.first)
    }

    /// Distance the command asks for from `t0_s` to `t1_s`: the integral of the speed, m.
    pub fn distance(&self, t0_s: f64, t1_s: f64) -> f64 {
        if t1_s < t0_s {
            return -self.distance(t1_s, t0_s);
        }
        let mut total = 0.0;
        let mut from = t0_s;
        let mut speed = self.speed_at(t0_s);
        for &(t, v) in self.changes.iter().filter(|(t, _)| *t > t0_s && *t < t1_s) {
            total += speed * (t - from);
            (from, speed) = (t, v);
        }
        total + speed * (t1_s - from)
    }

    /// The mean command over `[t0_s, t1_s]`, m/s (the command at `t0_s` if the interval is
    /// empty).
    pub fn mean(&self, t0_s: f64, t1_s: f64) -> f64 {
        if t1_s > t0_s { self.distance(t0_s, t1_s) / (t1_s - t0_s) } else { self.speed_at(t0_s) }
    }
}

impl Default for SpeedSchedule {
    /// Standing: 0 m/s throughout.
    fn default() -> SpeedSchedule {
        SpeedSchedule::constant(0.0)
    }
}

impl From<f64> for SpeedSchedule {
    fn from(speed_mps: f64) -> SpeedSchedule {
        SpeedSchedule::constant(speed_mps)
    }
}

impl From<f32> for SpeedSchedule {
    fn from(speed_mps: f32) -> SpeedSchedule {
        SpeedSchedule::constant(f64::from(speed_mps))
    }
}

/// The canonical text, which parses back to the same schedule: numbers in their shortest
/// exact form (`1,0@6,-0.3@12`).
impl fmt::Display for SpeedSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        for (t, v) in &self.changes {
            write!(f, ",{v}@{t}")?;
        }
        Ok(())
    }
}

impl FromStr for SpeedSchedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<SpeedSchedule, ScheduleError> {
        let fail = |problem: String| ScheduleError { text: text.to_string(), problem };
        if text.trim().is_empty() {
            return Err(fail("it is empty".into()));
        }
        let speed = |item: usize, s: &str| -> Result<f64, ScheduleError> {
            match s.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(fail(format!("item {item}: {:?} is not a speed in m/s", s.trim()))),
            }
        };
        let mut items = text.split(',');
        let head = items.next().unwrap_or_default();
        if head.contains('@') {
            return Err(fail(format!(
                "item 1: {:?} has a time, but the first speed holds from 0 s; drop its @",
                head.trim()
            )));
        }
        let first = speed(1, head)?;
        let mut changes = Vec::new();
        for (k, item) in items.enumerate() {
            let n = k + 2;
            let Some((v, t)) = item.split_once('@') else {
                return Err(fail(format!("item {n}: {:?} has no time; write SPEED@SECONDS", item.trim())));
            };
            let v = speed(n, v)?;
            let t = match t.trim().parse::<f64>() {
                Ok(t) if t.is_finite() => t,
                _ => return Err(fail(format!("item {n}: {:?} is not a time in seconds", t.trim()))),
            };
            changes.push((t, v));
        }
        let schedule = SpeedSchedule { first, changes };
        schedule.check().map_err(fail)?;
        Ok(schedule)
    }
}

impl serde::Serialize for SpeedSchedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SpeedSchedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SpeedSchedule, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SpeedSchedule {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn refusal(s: &str) -> String {
        s.parse::<SpeedSchedule>().expect_err(s).to_string()
    }

    #[test]
    fn a_schedule_is_piecewise_constant_from_each_time_on() {
        let s = parse("1.0,0@6,-0.3@12");
        assert_eq!(s.first(), 1.0);
        assert_eq!(s.changes(), &[(6.0, 0.0), (12.0, -0.3)]);
        assert_eq!(
            [s.at(-1.0), s.at(0.0), s.at(5.99), s.at(6.0), s.at(11.9), s.at(12.0), s.at(1e6)],
            [1.0, 1.0, 1.0, 0.0, 0.0, -0.3, -0.3]
        );
        assert_eq!(s.as_constant(), None);
        assert_eq!(s.last(), -0.3);
    }

    #[test]
    fn a_plain_number_is_a_constant_command() {
        let s = parse("-0.5");
        assert_eq!(s, SpeedSchedule::constant(-0.5));
        assert_eq!(s.as_constant(), Some(-0.5));
        assert_eq!(s.at(100.0), -0.5);
        assert_eq!(parse(" 0.25 "), SpeedSchedule::constant(0.25));
    }

    #[test]
    fn display_writes_text_that_parses_back_to_the_same_schedule() {
        for text in ["1,0@6,-0.3@12", "0", "-0.5", "0.6,0@2.5,0.6@7.25", "1e-3,2@0.02"] {
            let s = parse(text);
            assert_eq!(parse(&s.to_string()), s, "{text}");
        }
        assert_eq!(parse("1,0@6,-0.3@12").to_string(), "1,0@6,-0.3@12");
        assert_eq!(parse("1.0, 0@6 ,-0.30@12.0").to_string(), "1,0@6,-0.3@12");
    }

    #[test]
    fn distance_and_mean_integrate_the_steps() {
        let s = parse("1,0@6,-0.5@12");
        assert!((s.distance(0.0, 6.0) - 6.0).abs() < 1e-12);
        assert!((s.distance(0.0, 14.0) - (6.0 - 1.0)).abs() < 1e-12);
        assert!((s.distance(5.0, 13.0) - (1.0 - 0.5)).abs() < 1e-12);
        assert!((s.distance(13.0, 5.0) + 0.5).abs() < 1e-12);
        assert!((s.mean(4.0, 8.0) - 0.5).abs() < 1e-12);
        assert_eq!(s.mean(7.0, 7.0), 0.0);
    }

    #[test]
    fn each_kind_of_bad_input_is_refused_naming_the_item_and_the_fix() {
        let cases = [
            ("", "it is empty"),
            ("  ", "it is empty"),
            ("fast", "item 1: \"fast\" is not a speed in m/s"),
            ("1,,0@6", "item 2: \"\" has no time"),
            ("1,0", "item 2: \"0\" has no time; write SPEED@SECONDS"),
            ("1@0,0@6", "item 1: \"1@0\" has a time, but the first speed holds from 0 s"),
            ("1,x@6", "item 2: \"x\" is not a speed in m/s"),
            ("1,0@soon", "item 2: \"soon\" is not a time in seconds"),
            ("1,0@", "item 2: \"\" is not a time in seconds"),
            ("NaN", "item 1: \"NaN\" is not a speed in m/s"),
            ("1,inf@3", "item 2: \"inf\" is not a speed in m/s"),
            ("1,0@0", "item 2: the time 0 s must come after 0 s"),
            ("1,0@-2", "item 2: the time -2 s must come after 0 s"),
            ("1,0@6,2@6", "item 3: the time 6 s must come after the previous change's 6 s"),
            ("1,0@6,2@5", "item 3: the time 5 s must come after the previous change's 6 s"),
            ("1,0@inf", "item 2: \"inf\" is not a time in seconds"),
        ];
        for (text, expected) in cases {
            let message = refusal(text);
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(message.contains("e.g. 1.0,0@6,-0.3@12"), "{text:?}: no fix in {message}");
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }

    #[test]
    fn new_checks_as_the_parser_does() {
        assert!(SpeedSchedule::new(1.0, vec![(2.0, 0.0), (3.0, 1.0)]).is_ok());
        let e = SpeedSchedule::new(1.0, vec![(3.0, 0.0), (2.0, 1.0)]).unwrap_err();
        assert!(e.problem.contains("item 3"), "{e}");
        assert!(SpeedSchedule::new(f64::NAN, vec![]).is_err());
    }

    #[test]
    fn serde_uses_the_text_form() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            speed: SpeedSchedule,
        }
        let t = T { speed: parse("0.5,0@4") };
        let text = toml::to_string(&t).unwrap();
        assert_eq!(text.trim(), "speed = \"0.5,0@4\"");
        assert_eq!(toml::from_str::<T>(&text).unwrap(), t);
        let bad = toml::from_str::<T>("speed = \"0.5,0\"").unwrap_err().to_string();
        assert!(bad.contains("item 2"), "{bad}");
    }
}
