//! How a float field of a channel message is written: a JSON number when it is finite,
//! otherwise one of the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
//!
//! JSON has no literal for NaN or infinity, and serde_json writes them as `null`, which it
//! then cannot read back as a float; a failed sensor, which reports NaN, made a whole log
//! unreadable. Strings keep every message valid JSON that any reader parses, keep finite
//! values plain numbers (bit-exact, and plottable as before), and are the spelling of the
//! Protocol Buffers canonical JSON mapping, which JSON tooling in other languages already
//! decodes. A NaN's sign and payload are not kept: every NaN reads back as `f32::NAN` or
//! `f64::NAN`.
//!
//! Fields opt in with `#[serde(with = "crate::float")]`; it covers `f32`, `f64`,
//! `Values<f32, N>` (joint values) and `Option<Values<f32, N>>`. Messages whose keys come
//! from the robot's layout (`record.rs`) write and read their values through [`Wire`].

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Unexpected, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strider_robot::Values;

/// The strings that stand for the non-finite values, as written.
pub(crate) const NAN: &str = "NaN";
pub(crate) const INFINITY: &str = "Infinity";
pub(crate) const NEG_INFINITY: &str = "-Infinity";

/// The JSON schema of one float value: a number, or one of the three strings.
pub(crate) fn schema() -> Value {
    json!({"anyOf": [{"type": "number"}, {"enum": [NAN, INFINITY, NEG_INFINITY]}]})
}

pub(crate) fn serialize<T: Encoded, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    value.encode(serializer)
}

pub(crate) fn deserialize<'de, T: Encoded, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    T::decode(deserializer)
}

/// The field types that take this encoding.
pub(crate) trait Encoded: Sized {
    fn encode<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
    fn decode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

impl Encoded for f32 {
    fn encode<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire(*self).serialize(serializer)
    }
    fn decode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
        Ok(Wire::deserialize(deserializer)?.0)
    }
}

impl Encoded for f64 {
    fn encode<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire(*self).serialize(serializer)
    }
    fn decode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Wire::deserialize(deserializer)?.0)
    }
}

impl<const N: usize> Encoded for Values<f32, N> {
    fn encode<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire(&self[..]).serialize(serializer)
    }
    fn decode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Values<f32, N>, D::Error> {
        Ok(Wire::deserialize(deserializer)?.0)
    }
}

impl<const N: usize> Encoded for Option<Values<f32, N>> {
    fn encode<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(v) => serializer.serialize_some(&Wire(&v[..])),
            None => serializer.serialize_none(),
        }
    }
    fn decode<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Values<f32, N>>, D::Error> {
        Ok(Option::<Wire<Values<f32, N>>>::deserialize(deserializer)?.map(|w| w.0))
    }
}

/// A value in its log encoding: a float, a slice of floats (written) or up to `N` of them
/// (read).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wire<T>(pub(crate) T);

/// The float types a field can have.
pub(crate) trait Scalar: Copy + Default {
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn write<S: Serializer>(self, serializer: S) -> Result<S::Ok, S::Error>;
}

impl Scalar for f32 {
    fn from_f64(v: f64) -> f32 {
        // A cast keeps no promise about a NaN's payload; the canonical NaN is documented.
        if v.is_nan() { f32::NAN } else { v as f32 }
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn write<S: Serializer>(self, serializer: S) -> Result<S::Ok, S::Error> {
        // As an f32, so the text is the shortest that reads back to the same f32.
        serializer.serialize_f32(self)
    }
}

impl Scalar for f64 {
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn write<S: Serializer>(self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self)
    }
}

impl<T: Scalar> Serialize for Wire<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0.to_f64();
        if v.is_finite() {
            self.0.write(serializer)
        } else if v.is_nan() {
            serializer.serialize_str(NAN)
        } else if v > 0.0 {
            serializer.serialize_str(INFINITY)
        } else {
            serializer.serialize_str(NEG_INFINITY)
        }
    }
}

struct ScalarVisitor<T>(PhantomData<T>);

impl<T: Scalar> Visitor<'_> for ScalarVisitor<T> {
    type Value = Wire<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a number or one of \"{NAN}\", \"{INFINITY}\", \"{NEG_INFINITY}\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Wire<T>, E> {
        Ok(Wire(T::from_f64(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Wire<T>, E> {
        Ok(Wire(T::from_f64(v as f64)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Wire<T>, E> {
        Ok(Wire(T::from_f64(v as f64)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Wire<T>, E> {
        match v {
            NAN => Ok(Wire(T::from_f64(f64::NAN))),
            INFINITY => Ok(Wire(T::from_f64(f64::INFINITY))),
            NEG_INFINITY => Ok(Wire(T::from_f64(f64::NEG_INFINITY))),
            other => Err(E::invalid_value(Unexpected::Str(other), &self)),
        }
    }
}

impl<'de, T: Scalar> Deserialize<'de> for Wire<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Wire<T>, D::Error> {
        // `any`, not `f64`: the value may be a string.
        deserializer.deserialize_any(ScalarVisitor(PhantomData))
    }
}

impl<T: Scalar> Serialize for Wire<&[T]> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|&x| Wire(x)))
    }
}

struct ValuesVisitor<T, const N: usize>(PhantomData<T>);

impl<'de, T: Scalar, const N: usize> Visitor<'de> for ValuesVisitor<T, N> {
    type Value = Wire<Values<T, N>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of at most {N} numbers (or \"{NAN}\", \"{INFINITY}\", \"{NEG_INFINITY}\")")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Wire<Values<T, N>>, A::Error> {
        let mut out = Values::<T, N>::zeros(N);
        let mut len = 0;
        while let Some(Wire(x)) = seq.next_element::<Wire<T>>()? {
            if len == N {
                return Err(de::Error::invalid_length(N + 1, &self));
            }
            out[len] = x;
            len += 1;
        }
        Ok(Wire(Values::from_slice(&out[..len])))
    }
}

impl<'de, T: Scalar, const N: usize> Deserialize<'de> for Wire<Values<T, N>> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Wire<Values<T, N>>, D::Error> {
        deserializer.deserialize_seq(ValuesVisitor(PhantomData))
    }
}
