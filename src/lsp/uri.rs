//! Which URI names which source. User files are `file://` URIs of their absolute paths; the embedded standard
//! library has no file, so its modules get virtual URIs of the scheme [`STD_SCHEME`]: `std.fusion` (shown as
//! `std/fusion.fuse` in diagnostics) is `fusec-std:/std/fusion.fuse`. A client reads such a document's text with
//! the `fusec/stdlibSource` request (the VS Code extension registers a content provider for the scheme).
//! Everything here takes the client's strings as untrusted: a URI that does not decode gives `None`.

/// The scheme of the embedded standard library's virtual documents.
pub const STD_SCHEME: &str = "fusec-std";

/// The virtual URI of a stdlib source named `std/X.fuse`.
pub fn std_uri(source_name: &str) -> String {
    format!("{STD_SCHEME}:/{source_name}")
}

/// The module (`fusion`) of a stdlib URI (`fusec-std:/std/fusion.fuse`; `fusec-std:///std/...` is accepted
/// too, as some clients normalize an empty authority that way).
pub fn std_module(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix(STD_SCHEME)?.strip_prefix(':')?;
    let rest = rest.trim_start_matches('/');
    rest.strip_prefix("std/")?.strip_suffix(".fuse")
}

/// The text of a stdlib document by its URI.
pub fn std_source(uri: &str) -> Option<&'static str> {
    crate::stdlib::source(std_module(uri)?)
}

/// The absolute path of a `file://` URI (percent-decoded), or `None` for another scheme, a remote host, or a
/// path that does not decode to UTF-8 text without NULs.
pub fn file_path(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("FILE://"))?;
    let (host, path) = rest.split_at(rest.find('/')?);
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
        return None;
    }
    // A query or fragment is not part of a file's name.
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let decoded = percent_decode(path)?;
    (!decoded.contains('\0')).then_some(decoded)
}

/// The `file://` URI of an absolute path, with every byte outside the unreserved set and `/` percent-encoded
/// (as VS Code writes them).
pub fn file_uri(path: &str) -> String {
    let mut out = String::from("file://");
    if !path.starts_with('/') {
        out.push('/');
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[path = "tests/uri.rs"]
mod tests;
