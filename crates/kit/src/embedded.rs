//! The files compiled into the binary by build.rs: templates, SDKs and the contract's WIT, by repository path.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The embedded files under `dir` (a repository path such as `sdk/python/template`), as (path below `dir`, bytes).
pub fn under(dir: &str) -> impl Iterator<Item = (&'static str, &'static [u8])> + '_ {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    FILES.iter().filter_map(move |(path, bytes)| {
        path.strip_prefix(prefix.as_str())
            .map(|rest| (rest, *bytes))
    })
}

/// One embedded file by its repository path.
pub fn file(path: &str) -> Option<&'static [u8]> {
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
}
