//! Unit tests of `src/lsp/uri.rs`.

use super::*;

#[test]
fn file_uris_round_trip_through_percent_encoding() {
    let path = "/home/ann/my models/é.fuse";
    let uri = file_uri(path);
    assert_eq!(uri, "file:///home/ann/my%20models/%C3%A9.fuse");
    assert_eq!(file_path(&uri).as_deref(), Some(path));
    assert_eq!(
        file_path("file://localhost/a/b.fuse").as_deref(),
        Some("/a/b.fuse")
    );
}

#[test]
fn foreign_or_broken_uris_are_refused() {
    for uri in [
        "untitled:Untitled-1",
        "file://server/share/a.fuse",
        "file:///a%2",
        "file:///a%zz.fuse",
        "file:///a%00.fuse",
        "file:///a%FF.fuse",
        "file:",
        "",
    ] {
        assert_eq!(file_path(uri), None, "{uri}");
    }
}

#[test]
fn stdlib_uris_name_their_module() {
    assert_eq!(std_uri("std/fusion.fuse"), "fusec-std:/std/fusion.fuse");
    assert_eq!(std_module("fusec-std:/std/fusion.fuse"), Some("fusion"));
    assert_eq!(std_module("fusec-std:///std/heads.fuse"), Some("heads"));
    assert!(std_source("fusec-std:/std/fusion.fuse").is_some());
    assert_eq!(std_source("fusec-std:/std/nothing.fuse"), None);
    assert_eq!(std_module("file:///std/fusion.fuse"), None);
}
