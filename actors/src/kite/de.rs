//! Lenient field deserializers for Kite's JSON, which sends `null` for many absent values
//! and order ids sometimes as numbers.

use serde::{Deserialize, Deserializer};

/// `null` (or, with `#[serde(default)]`, absent) becomes the type's default.
pub(super) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An id given as a string or a number (`null` becomes empty).
pub(super) fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(u64),
    }
    Ok(match Option::<Id>::deserialize(d)? {
        Some(Id::S(s)) => s,
        Some(Id::N(n)) => n.to_string(),
        None => String::new(),
    })
}
