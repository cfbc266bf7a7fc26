//! Up to `N` values inline: the codec's fixed-capacity list. `no_std`, never allocates.
//! (The same idea as `strider_robot::Values`, which the codec cannot use: strider-robot
//! needs `std` for the description's TOML and hashing, and the codec builds without it.)

use core::fmt;
use core::ops::{Deref, DerefMut};

/// Up to `N` values stored inline (`N` ≤ 255): `Copy`, never allocates, used as a slice
/// (`Deref`), compared and printed as one. How a frame body sized by the handshake's counts
/// ([`crate::Counts`]) is held without allocation.
#[derive(Clone, Copy)]
pub struct Bounded<T, const N: usize> {
    len: u8,
    items: [T; N],
}

impl<T: Copy + Default, const N: usize> Bounded<T, N> {
    /// The most values it holds.
    pub const CAPACITY: usize = {
        assert!(N <= u8::MAX as usize, "a Bounded holds at most 255 values");
        N
    };

    /// `len` copies of `value`. Panics past the capacity `N`.
    pub fn filled(len: usize, value: T) -> Self {
        assert!(len <= Self::CAPACITY, "{len} values, capacity {N}");
        let mut items = [T::default(); N];
        items[..len].fill(value);
        Bounded { len: len as u8, items }
    }

    /// `len` default values (zeros).
    pub fn zeros(len: usize) -> Self {
        Self::filled(len, T::default())
    }

    /// A copy of `values`. Panics past the capacity `N`.
    pub fn from_slice(values: &[T]) -> Self {
        let mut v = Self::zeros(values.len());
        v.copy_from_slice(values);
        v
    }
}

impl<T: Copy + Default, const N: usize> Default for Bounded<T, N> {
    /// No values.
    fn default() -> Self {
        Self::zeros(0)
    }
}

impl<T, const N: usize> Deref for Bounded<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items[..usize::from(self.len)]
    }
}

impl<T, const N: usize> DerefMut for Bounded<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items[..usize::from(self.len)]
    }
}

impl<T: PartialEq, const N: usize> PartialEq for Bounded<T, N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq, const N: usize> Eq for Bounded<T, N> {}

impl<T: fmt::Debug, const N: usize> fmt::Debug for Bounded<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a Bounded<T, N> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Copy + Default, const N: usize, const M: usize> From<[T; M]> for Bounded<T, N> {
    /// Panics when `M > N`.
    fn from(values: [T; M]) -> Self {
        Self::from_slice(&values)
    }
}
