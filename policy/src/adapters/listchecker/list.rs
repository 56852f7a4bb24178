//! A list as the listchecker matches against it: the text format of a provider's list (one
//! entry per line; blank lines and `#` comments skipped), and the compiled [`List`] for each
//! entry type — a string set, a lower-cased set, IP addresses and CIDR ranges, or RE2-style
//! regexes (unanchored, as Go's `MatchString`). Pure: this is what the `parse_list` fuzz
//! target exercises.

use super::config::EntryType;
use regex::RegexSetBuilder;
use rustc_hash::FxHashSet;
use std::net::IpAddr;

/// Largest list text accepted from a provider.
pub const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;
/// Compiled size limit of a REGEX list.
const REGEX_SIZE_LIMIT: usize = 64 * 1024 * 1024;

/// An address range: an IP and how many leading bits must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a single address.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("{s:?}: prefix length must be 0 to {max}")),
            },
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)) << 96,
                u128::from(u32::from(ip)) << 96,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, bits: u8) -> bool {
    if bits == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - u32::from(bits));
    a & mask == b & mask
}

/// What a list is asked about: a string, or an address.
#[derive(Clone, Copy, Debug)]
pub enum Symbol<'a> {
    Str(&'a str),
    Ip(IpAddr),
}

/// A compiled list.
#[derive(Debug)]
pub enum List {
    Strings(FxHashSet<String>),
    /// Entries lower-cased; lookups are lower-cased too.
    CaseInsensitive(FxHashSet<String>),
    Ips(Vec<Cidr>),
    Regex(Option<regex::RegexSet>),
}

/// One entry that does not fit the list's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadEntry {
    /// 0-based position among the entries (or the line number for a provider's text).
    pub index: usize,
    pub message: String,
}

/// Entries of a provider's list text: one per line, trimmed; blank lines and lines starting
/// with `#` are skipped. Yields (1-based line number, entry).
pub fn entries(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

impl List {
    /// Compiles `entries` as `ty`; every bad entry is reported.
    pub fn build<'e>(
        ty: EntryType,
        entries: impl IntoIterator<Item = (usize, &'e str)>,
    ) -> Result<List, Vec<BadEntry>> {
        let mut bad = Vec::new();
        let list = match ty {
            EntryType::Strings => {
                List::Strings(entries.into_iter().map(|(_, e)| e.to_owned()).collect())
            }
            EntryType::CaseInsensitiveStrings => {
                List::CaseInsensitive(entries.into_iter().map(|(_, e)| e.to_lowercase()).collect())
            }
            EntryType::IpAddresses => List::Ips(
                entries
                    .into_iter()
                    .filter_map(|(index, e)| {
                        Cidr::parse(e)
                            .map_err(|message| bad.push(BadEntry { index, message }))
                            .ok()
                    })
                    .collect(),
            ),
            EntryType::Regex => {
                let patterns: Vec<(usize, &str)> = entries.into_iter().collect();
                for &(index, p) in &patterns {
                    if let Err(e) = regex::RegexBuilder::new(p)
                        .size_limit(REGEX_SIZE_LIMIT)
                        .build()
                    {
                        bad.push(BadEntry {
                            index,
                            message: format!("{p:?} is not a valid regular expression: {e}"),
                        });
                    }
                }
                if !bad.is_empty() || patterns.is_empty() {
                    List::Regex(None)
                } else {
                    let set = RegexSetBuilder::new(patterns.iter().map(|(_, p)| *p))
                        .size_limit(REGEX_SIZE_LIMIT)
                        .build()
                        .map_err(|e| {
                            bad.push(BadEntry {
                                index: 0,
                                message: format!(
                                    "the regular expressions together are too large: {e}"
                                ),
                            })
                        })
                        .ok();
                    List::Regex(set)
                }
            }
        };
        if bad.is_empty() {
            Ok(list)
        } else {
            Err(bad)
        }
    }

    pub fn len(&self) -> usize {
        match self {
            List::Strings(s) | List::CaseInsensitive(s) => s.len(),
            List::Ips(v) => v.len(),
            List::Regex(r) => r.as_ref().map_or(0, regex::RegexSet::len),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the list holds `symbol`. An IP is matched by its dotted form against string
    /// and regex lists; a string against an IP list must parse as an address (`Err` if not).
    pub fn contains(&self, symbol: Symbol<'_>) -> Result<bool, String> {
        fn text(s: Symbol<'_>) -> std::borrow::Cow<'_, str> {
            match s {
                Symbol::Str(s) => std::borrow::Cow::Borrowed(s),
                Symbol::Ip(ip) => std::borrow::Cow::Owned(ip.to_canonical().to_string()),
            }
        }
        Ok(match self {
            List::Strings(set) => set.contains(text(symbol).as_ref()),
            List::CaseInsensitive(set) => set.contains(&text(symbol).to_lowercase()),
            List::Regex(set) => set.as_ref().is_some_and(|r| r.is_match(&text(symbol))),
            List::Ips(ranges) => {
                let ip = match symbol {
                    Symbol::Ip(ip) => ip,
                    Symbol::Str(s) => s
                        .trim()
                        .parse::<IpAddr>()
                        .map_err(|_| format!("{s} is not a valid IP address"))?,
                };
                ranges.iter().any(|r| r.contains(ip))
            }
        })
    }
}
