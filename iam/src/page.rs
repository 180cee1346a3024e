//! `Marker` / `MaxItems` / `IsTruncated` paging of IAM's lists. A marker is opaque to
//! clients: here the sort key of the next page's first item, base64url-encoded.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use freshet_protocol::error::ApiError;

use crate::error::{shown, validation};
use crate::query::{Checks, Params};
use crate::rules::{DEFAULT_MAX_ITEMS, MARKER};

/// Where a page starts and how long it may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// The sort key the page starts at (decoded from `Marker`).
    pub from: Option<String>,
    /// `MaxItems` (100 when not given).
    pub max_items: usize,
}

impl Paging {
    /// Reads `Marker` and `MaxItems` (validated into `checks`; a marker this service did
    /// not write is a `ValidationError` at [`Paging::start`]).
    pub fn read(p: &Params, checks: &mut Checks) -> Paging {
        let marker = checks.optional(p, "Marker", "marker", &MARKER);
        let max_items = checks
            .integer(p, "MaxItems", "maxItems", 1, 1000)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_ITEMS);
        Paging {
            from: marker.map(str::to_string),
            max_items,
        }
    }

    /// The decoded start key; call after the checks passed.
    pub fn start(&self) -> Result<Option<String>, ApiError> {
        let Some(m) = &self.from else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(m.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| {
                validation(format!(
                    "Invalid Marker '{}': pass the Marker of the previous page of this list.",
                    shown(m)
                ))
            })
    }

    /// One page of `items` (sorted by their keys): those from the start key on, at most
    /// `max_items`, and the marker of the next page when more remain.
    pub fn page<T>(&self, items: Vec<(String, T)>) -> Result<(Vec<T>, Option<String>), ApiError> {
        let start = self.start()?;
        let mut rest = items
            .into_iter()
            .skip_while(|(k, _)| start.as_deref().is_some_and(|s| k.as_str() < s));
        let page: Vec<T> = rest.by_ref().take(self.max_items).map(|(_, v)| v).collect();
        let next = rest
            .next()
            .map(|(k, _)| URL_SAFE_NO_PAD.encode(k.as_bytes()));
        Ok((page, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<(String, usize)> {
        (0..n).map(|i| (format!("k{i:03}"), i)).collect()
    }

    #[test]
    fn pages_walk_the_whole_list_once() {
        let p = Params::parse(b"MaxItems=3");
        let mut c = Checks::default();
        let mut paging = Paging::read(&p, &mut c);
        assert!(c.is_clean());
        let mut seen = Vec::new();
        loop {
            let (page, next) = paging.page(items(10)).unwrap();
            assert!(page.len() <= 3);
            seen.extend(page);
            match next {
                Some(m) => paging.from = Some(m),
                None => break,
            }
        }
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn defaults_bounds_and_bad_markers() {
        let mut c = Checks::default();
        let paging = Paging::read(&Params::default(), &mut c);
        assert_eq!(paging.max_items, 100);
        let (page, next) = paging.page(items(100)).unwrap();
        assert_eq!((page.len(), next), (100, None));
        let mut c = Checks::default();
        Paging::read(&Params::parse(b"MaxItems=1001"), &mut c);
        assert!(!c.is_clean());
        let bad = Paging {
            from: Some("!!not base64!!".into()),
            max_items: 10,
        };
        assert_eq!(
            bad.page(items(1)).err().map(|e| e.kind),
            Some("ValidationError")
        );
    }
}
