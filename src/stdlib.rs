//! The standard library of .fuse blocks, embedded in the binary: module `std.X` is the file `stdlib/X.fuse`,
//! shown in diagnostics as `std/X.fuse`.

/// Every standard module: name and source text.
const MODULES: &[(&str, &str)] = &[
    ("encoders", include_str!("../stdlib/encoders.fuse")),
    ("fusion", include_str!("../stdlib/fusion.fuse")),
    ("heads", include_str!("../stdlib/heads.fuse")),
    ("mult", include_str!("../stdlib/mult.fuse")),
];

/// The source of module `std.name`.
pub fn source(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Names of all standard modules, in a fixed order.
pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|(n, _)| *n)
}
